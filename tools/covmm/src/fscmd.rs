// SPDX-License-Identifier: GPL-2.0

//! `covmm export`, `unexport` and `exports`: host directories for guests'
//! hlfs mounts (`mount -t hlfs TAG DIR` in the guest).

use covmm::host::Host;
use covmm_abi::hlfs::{IdMap, IdRange, MAX_ID_RANGES};

/// Parses `GUEST:HOST:COUNT` (a range of ids mapped between guest and host).
pub fn parse_range(text: &str) -> Result<IdRange, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let num = |s: &str| s.parse::<u32>().map_err(|_| format!("{s:?} is not an id"));
    match parts[..] {
        [g, h, n] => Ok(IdRange {
            guest: num(g)?,
            host: num(h)?,
            count: num(n)?,
            pad: 0,
        }),
        _ => Err(format!("{text:?}: expected GUEST:HOST:COUNT")),
    }
}

/// The id map of `ranges`, checked as the kernel checks it.
pub fn id_map(ranges: &[IdRange]) -> Result<IdMap, String> {
    if ranges.len() > MAX_ID_RANGES {
        return Err(format!("at most {MAX_ID_RANGES} id ranges"));
    }
    let mut map = IdMap::default();
    map.ranges[..ranges.len()].copy_from_slice(ranges);
    map.count = ranges.len() as u32;
    if !map.validate() {
        return Err("id ranges must be non-empty, must not wrap and must not overlap".into());
    }
    Ok(map)
}

/// `covmm exports <vm>`.
pub fn exports(host: &Host, vm: i32, json: bool) -> Result<(), String> {
    let list = host.hlfs_exports(vm).map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&list).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{:<20} {:<4} {:>6} {:>9} {:>6}  PATH",
        "TAG", "MODE", "MOUNTS", "NODES", "FILES"
    );
    for e in list {
        println!(
            "{:<20} {:<4} {:>6} {:>9} {:>6}  {}",
            e.tag,
            if e.read_only { "ro" } else { "rw" },
            e.mounts,
            e.nodes,
            e.files,
            e.path
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_parse_and_check() {
        let r = parse_range("0:100000:65536").unwrap();
        assert_eq!((r.guest, r.host, r.count), (0, 100000, 65536));
        assert!(parse_range("1:2").is_err() && parse_range("a:1:1").is_err());
        assert!(id_map(&[r]).is_ok());
        assert!(id_map(&[r, parse_range("5:0:1").unwrap()]).is_err());
        assert!(id_map(&[parse_range("0:0:0").unwrap()]).is_err());
    }
}
