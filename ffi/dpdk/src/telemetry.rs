//! Commands of the process's own in DPDK's telemetry socket, next to the
//! standard ones (`/ethdev/stats`, ...): a Rust closure per command returns
//! a flat dictionary. The C callback looks the closure up by command name.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

/// A value in a telemetry dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelValue {
    U64(u64),
    Str(String),
}

type Handler = Box<dyn Fn() -> Vec<(String, TelValue)> + Send + Sync>;

fn handlers() -> &'static Mutex<HashMap<String, Handler>> {
    static H: OnceLock<Mutex<HashMap<String, Handler>>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Longest key or string DPDK keeps (RTE_TEL_MAX_STRING_LEN - 1).
const MAX_STR: usize = 127;
/// Most entries one dictionary holds (RTE_TEL_MAX_DICT_ENTRIES).
pub const MAX_ENTRIES: usize = 256;

extern "C" fn callback(
    cmd: *const c_char,
    _params: *const c_char,
    d: *mut dpdk_sys::rte_tel_data,
) -> c_int {
    // SAFETY: DPDK passes the registered command string.
    let cmd = unsafe { CStr::from_ptr(cmd) }
        .to_string_lossy()
        .into_owned();
    let Ok(map) = handlers().lock() else {
        return -1;
    };
    let Some(h) = map.get(&cmd) else { return -1 };
    // A panic must not unwind into C.
    let Ok(entries) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(h)) else {
        return -1;
    };
    // SAFETY: d is the output object DPDK handed us.
    unsafe { dpdk_sys::vtep_tel_start_dict(d) };
    for (k, v) in entries.into_iter().take(MAX_ENTRIES) {
        let k: String = k.chars().take(MAX_STR).collect();
        let Ok(key) = CString::new(k) else { continue };
        // SAFETY: valid output object and NUL-terminated strings.
        unsafe {
            match v {
                TelValue::U64(n) => dpdk_sys::vtep_tel_dict_u64(d, key.as_ptr(), n),
                TelValue::Str(s) => match CString::new(s.chars().take(MAX_STR).collect::<String>())
                {
                    Ok(s) => dpdk_sys::vtep_tel_dict_str(d, key.as_ptr(), s.as_ptr()),
                    Err(_) => 0,
                },
            };
        }
    }
    0
}

/// Registers `cmd` (e.g. "/vtep/stats": '/', letters, digits, '_').
pub fn register<F>(cmd: &str, help: &str, f: F) -> Result<()>
where
    F: Fn() -> Vec<(String, TelValue)> + Send + Sync + 'static,
{
    let bad = || {
        Error::Telemetry(format!(
            "telemetry command {cmd:?}: must be '/' then letters, digits, '_' or '/'"
        ))
    };
    if !cmd.starts_with('/')
        || !cmd
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
    {
        return Err(bad());
    }
    let c = CString::new(cmd).map_err(|_| bad())?;
    let h = CString::new(help).map_err(|_| bad())?;
    handlers()
        .lock()
        .map_err(|_| bad())?
        .insert(cmd.to_string(), Box::new(f));
    // DPDK keeps the pointers: the strings must live for the process.
    let (c, h) = (c.into_raw(), h.into_raw());
    // SAFETY: valid strings that are never freed; callback is 'static.
    let rc = unsafe { dpdk_sys::vtep_tel_register(c, Some(callback), h) };
    if rc != 0 {
        return Err(Error::Telemetry(format!(
            "rte_telemetry_register_cmd({cmd}) failed: {rc}"
        )));
    }
    Ok(())
}
