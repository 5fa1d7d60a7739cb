//! Access side: classify a tenant frame to its VNI (stripping an 802.1Q
//! tag), and restore a tag on delivery.

use crate::datapath::buf::PacketBuf;
use crate::datapath::drops::DropReason;
use crate::datapath::fdb::VniIdx;
use crate::datapath::state::AccessState;
use crate::wire::ethernet::{close_tag, open_tag};
use crate::wire::{EthernetFrame, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_LEN, VLAN_LEN};

/// Maps a frame from access port `port` to its VNI; strips a VLAN tag.
#[inline(always)]
pub fn classify_access<B: PacketBuf>(b: &mut B, port: &AccessState) -> Result<VniIdx, DropReason> {
    let e = EthernetFrame::new_checked(b.data()).ok_or(DropReason::AccessRunt)?;
    if e.src_is_invalid() {
        return Err(DropReason::AccessSrcInvalid);
    }
    match e.ethertype() {
        ETHERTYPE_VLAN => {
            let (vid, inner) = e.vlan().ok_or(DropReason::AccessRunt)?;
            if inner == ETHERTYPE_VLAN || inner == ETHERTYPE_QINQ {
                return Err(DropReason::AccessQinq);
            }
            // VID 0 is a priority tag: the frame belongs to the untagged VNI.
            let vni = if vid == 0 {
                port.untagged.ok_or(DropReason::AccessNoVni)?
            } else {
                port.vlans[vid as usize].ok_or(DropReason::AccessVlanUnmapped)?
            };
            close_tag(b.data_mut());
            b.adj(VLAN_LEN);
            Ok(vni)
        }
        ETHERTYPE_QINQ => Err(DropReason::AccessQinq),
        _ => port.untagged.ok_or(DropReason::AccessNoVni),
    }
}

/// Inserts an 802.1Q tag with `vid` after the MAC addresses.
#[inline(always)]
pub fn push_vlan<B: PacketBuf>(b: &mut B, vid: u16) -> Result<(), DropReason> {
    if b.len() < ETH_LEN {
        return Err(DropReason::InnerRunt);
    }
    b.prepend(VLAN_LEN).ok_or(DropReason::NoHeadroom)?;
    open_tag(b.data_mut(), vid);
    Ok(())
}
