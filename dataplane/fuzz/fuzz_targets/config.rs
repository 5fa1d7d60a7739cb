//! The config parser never panics: any text is a config or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = vtep_config::Config::parse(s);
    }
});
