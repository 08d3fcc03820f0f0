//! One allocation block, edited purely in memory; the caller writes it back with
//! compare-and-swap. Field semantics are Calico's (`libcalico-go/lib/ipam/ipam_block.go`):
//! FIFO free list, per-allocation sequence numbers, deduplicated attributes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use calico_model::{AllocationAttribute, IPAMBlockSpec};
use ipnet::IpNet;

/// Handle of the addresses Windows reserves in every block; they do not make a block
/// non-empty.
pub const WINDOWS_RESERVED_HANDLE: &str = "windows-reserved-ipam-handle";

/// Number of addresses in a network (saturating for huge IPv6 prefixes).
pub fn net_size(net: &IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

/// The address `offset` places after `base` (same family).
pub fn add_offset(base: IpAddr, offset: u128) -> IpAddr {
    match base {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a).wrapping_add(offset as u32)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a).wrapping_add(offset)).into()),
    }
}

/// `ip - base` as a number (ip must be at or after base, same family).
pub fn offset_of(base: IpAddr, ip: IpAddr) -> Option<u128> {
    match (base, ip) {
        (IpAddr::V4(b), IpAddr::V4(i)) => u32::from(i).checked_sub(u32::from(b)).map(u128::from),
        (IpAddr::V6(b), IpAddr::V6(i)) => u128::from(i).checked_sub(u128::from(b)),
        _ => None,
    }
}

/// The block (of prefix length `block_prefix`) containing `ip`.
pub fn block_of(ip: IpAddr, block_prefix: u8) -> Option<IpNet> {
    IpNet::new(ip, block_prefix).ok().map(|n| n.trunc())
}

/// A broken block invariant (what `calicoctl ipam check` reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockProblem {
    /// The block CIDR.
    pub cidr: String,
    /// What is wrong.
    pub problem: String,
}

/// Why an in-memory release of one address did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseSkip {
    /// The address was not allocated.
    NotAllocated,
    /// The address belongs to another handle now.
    BadHandle,
    /// The address was reallocated since the caller looked (sequence number differs).
    BadSequenceNumber,
}

/// An allocation block being edited.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// The parsed CIDR.
    pub cidr: IpNet,
    /// The stored value.
    pub spec: IPAMBlockSpec,
}

impl Block {
    /// A fresh block: every ordinal free in order, affine to `affinity` (`host:<node>`),
    /// sequence number seeded from `seed` (Calico uses the creation time in nanoseconds so a
    /// re-created block never replays old sequence numbers).
    pub fn new(
        cidr: IpNet,
        affinity: Option<String>,
        claim_time: Option<String>,
        seed: u64,
    ) -> Self {
        let n = net_size(&cidr).min(1 << 20) as usize;
        Block {
            cidr,
            spec: IPAMBlockSpec {
                cidr: cidr.to_string(),
                affinity,
                affinity_claim_time: claim_time,
                allocations: vec![None; n],
                unallocated: (0..n as i64).collect(),
                attributes: Vec::new(),
                sequence_number: seed,
                sequence_number_for_allocation: BTreeMap::new(),
                deleted: false,
                deprecated_strict_affinity: false,
            },
        }
    }

    /// Wraps a stored block; `None` if its CIDR does not parse.
    pub fn from_spec(spec: IPAMBlockSpec) -> Option<Self> {
        let cidr: IpNet = spec.cidr.parse().ok()?;
        Some(Block {
            cidr: cidr.trunc(),
            spec,
        })
    }

    /// Number of addresses in the block.
    pub fn size(&self) -> usize {
        self.spec.allocations.len()
    }

    /// The address of ordinal `ord`.
    pub fn ip_of(&self, ord: usize) -> IpAddr {
        add_offset(self.cidr.network(), ord as u128)
    }

    /// The ordinal of `ip`, if it is in the block.
    pub fn ordinal_of(&self, ip: IpAddr) -> Option<usize> {
        if !self.cidr.contains(&ip) {
            return None;
        }
        let o = offset_of(self.cidr.network(), ip)? as usize;
        (o < self.size()).then_some(o)
    }

    /// The host the block is affine to (`host:<node>`), if any.
    pub fn host_affinity(&self) -> Option<&str> {
        self.spec.affinity.as_deref()?.strip_prefix("host:")
    }

    /// Free addresses.
    pub fn num_free(&self) -> usize {
        self.spec.unallocated.len()
    }

    /// Free addresses that are not reserved.
    pub fn num_free_unreserved(&self, reserved: &dyn Fn(IpAddr) -> bool) -> usize {
        self.spec
            .unallocated
            .iter()
            .filter(|&&o| !reserved(self.ip_of(o as usize)))
            .count()
    }

    /// The attribute record of an allocated ordinal.
    pub fn attribute_of(&self, ord: usize) -> Option<&AllocationAttribute> {
        let idx = (*self.spec.allocations.get(ord)?)?;
        self.spec.attributes.get(usize::try_from(idx).ok()?)
    }

    /// The handle of an allocated ordinal.
    pub fn handle_of(&self, ord: usize) -> Option<&str> {
        self.attribute_of(ord)?.handle_id.as_deref()
    }

    /// True if nothing but Windows-reserved addresses is allocated.
    pub fn is_empty(&self) -> bool {
        (0..self.size()).all(|o| {
            self.spec.allocations[o].is_none() || self.handle_of(o) == Some(WINDOWS_RESERVED_HANDLE)
        })
    }

    /// Allocated ordinals with their attribute.
    pub fn allocated(&self) -> impl Iterator<Item = (usize, Option<&AllocationAttribute>)> {
        (0..self.size())
            .filter(|&o| self.spec.allocations[o].is_some())
            .map(|o| (o, self.attribute_of(o)))
    }

    /// The sequence number recorded when `ord` was allocated.
    pub fn sequence_of(&self, ord: usize) -> Option<u64> {
        self.spec
            .sequence_number_for_allocation
            .get(&ord.to_string())
            .copied()
    }

    /// The index of an attribute record equal to `attr`, adding it if new.
    fn attribute_index(&mut self, attr: AllocationAttribute) -> i64 {
        if let Some(i) = self.spec.attributes.iter().position(|a| *a == attr) {
            return i as i64;
        }
        self.spec.attributes.push(attr);
        (self.spec.attributes.len() - 1) as i64
    }

    /// Allocates up to `n` addresses from the head of the free list, skipping reserved
    /// ones (which keep their place in the queue). Records the sequence number per ordinal
    /// and bumps the block's.
    pub fn assign(
        &mut self,
        n: usize,
        handle: &str,
        attrs: &BTreeMap<String, String>,
        reserved: &dyn Fn(IpAddr) -> bool,
    ) -> Vec<IpAddr> {
        let mut chosen = Vec::new();
        let mut kept = Vec::with_capacity(self.spec.unallocated.len());
        for &o in &self.spec.unallocated {
            let ord = o as usize;
            if chosen.len() < n && ord < self.size() && !reserved(self.ip_of(ord)) {
                chosen.push(ord);
            } else {
                kept.push(o);
            }
        }
        if chosen.is_empty() {
            return Vec::new();
        }
        self.spec.unallocated = kept;
        let idx = self.attribute_index(attribute(handle, attrs));
        let seq = self.spec.sequence_number;
        for &ord in &chosen {
            self.spec.allocations[ord] = Some(idx);
            self.spec
                .sequence_number_for_allocation
                .insert(ord.to_string(), seq);
        }
        self.spec.sequence_number = seq.wrapping_add(1);
        chosen.into_iter().map(|o| self.ip_of(o)).collect()
    }

    /// Allocates one specific address. `Err(Some(handle))`/`Err(None)` if it is taken.
    pub fn assign_ip(
        &mut self,
        ip: IpAddr,
        handle: &str,
        attrs: &BTreeMap<String, String>,
    ) -> Result<(), Option<String>> {
        let Some(ord) = self.ordinal_of(ip) else {
            return Err(None);
        };
        let Some(pos) = self
            .spec
            .unallocated
            .iter()
            .position(|&o| o as usize == ord)
        else {
            return Err(self.handle_of(ord).map(str::to_owned));
        };
        self.spec.unallocated.remove(pos);
        let idx = self.attribute_index(attribute(handle, attrs));
        let seq = self.spec.sequence_number;
        self.spec.allocations[ord] = Some(idx);
        self.spec
            .sequence_number_for_allocation
            .insert(ord.to_string(), seq);
        self.spec.sequence_number = seq.wrapping_add(1);
        Ok(())
    }

    /// Releases one address if the guards match. Freed ordinals go to the tail of the
    /// free list (the longest-free address is reused first). Returns the handle it had.
    pub fn release(
        &mut self,
        ip: IpAddr,
        handle: Option<&str>,
        sequence: Option<u64>,
    ) -> Result<Option<String>, ReleaseSkip> {
        let ord = self.ordinal_of(ip).ok_or(ReleaseSkip::NotAllocated)?;
        if self.spec.allocations[ord].is_none() {
            return Err(ReleaseSkip::NotAllocated);
        }
        let owner = self.handle_of(ord).map(str::to_owned);
        if let Some(h) = handle
            && owner.as_deref() != Some(h)
        {
            return Err(ReleaseSkip::BadHandle);
        }
        if let Some(s) = sequence
            && self.sequence_of(ord) != Some(s)
        {
            return Err(ReleaseSkip::BadSequenceNumber);
        }
        self.free_ordinal(ord);
        self.compact_attributes();
        self.spec.sequence_number = self.spec.sequence_number.wrapping_add(1);
        Ok(owner)
    }

    /// Releases every address of `handle`; returns them.
    pub fn release_handle(&mut self, handle: &str) -> Vec<IpAddr> {
        let ords: Vec<usize> = (0..self.size())
            .filter(|&o| self.handle_of(o) == Some(handle))
            .collect();
        if ords.is_empty() {
            return Vec::new();
        }
        for &o in &ords {
            self.free_ordinal(o);
        }
        self.compact_attributes();
        self.spec.sequence_number = self.spec.sequence_number.wrapping_add(1);
        ords.into_iter().map(|o| self.ip_of(o)).collect()
    }

    /// Addresses held by `handle`.
    pub fn ips_of_handle(&self, handle: &str) -> Vec<IpAddr> {
        (0..self.size())
            .filter(|&o| self.handle_of(o) == Some(handle))
            .map(|o| self.ip_of(o))
            .collect()
    }

    fn free_ordinal(&mut self, ord: usize) {
        self.spec.allocations[ord] = None;
        self.spec.unallocated.push(ord as i64);
        self.spec
            .sequence_number_for_allocation
            .remove(&ord.to_string());
    }

    /// Drops attribute records nothing references and renumbers the rest.
    fn compact_attributes(&mut self) {
        let mut used = vec![false; self.spec.attributes.len()];
        for i in self.spec.allocations.iter().flatten() {
            if let Some(u) = usize::try_from(*i).ok().and_then(|i| used.get_mut(i)) {
                *u = true;
            }
        }
        if used.iter().all(|&u| u) {
            return;
        }
        let mut remap = vec![None; used.len()];
        let mut kept = Vec::new();
        for (i, attr) in std::mem::take(&mut self.spec.attributes)
            .into_iter()
            .enumerate()
        {
            if used[i] {
                remap[i] = Some(kept.len() as i64);
                kept.push(attr);
            }
        }
        self.spec.attributes = kept;
        for a in self.spec.allocations.iter_mut() {
            if let Some(i) = *a {
                *a = usize::try_from(i)
                    .ok()
                    .and_then(|i| remap.get(i).copied().flatten());
            }
        }
    }

    /// Checks Calico's block invariants; empty when the block is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let n = self.size();
        if n as u128 != net_size(&self.cidr) {
            out.push(format!(
                "allocations has {n} entries but the block has {} addresses",
                net_size(&self.cidr)
            ));
        }
        let mut referenced = vec![false; self.spec.attributes.len()];
        let mut allocated = 0usize;
        for (o, a) in self.spec.allocations.iter().enumerate() {
            if let Some(i) = a {
                allocated += 1;
                match usize::try_from(*i).ok().filter(|&i| i < referenced.len()) {
                    Some(i) => referenced[i] = true,
                    None => out.push(format!(
                        "ordinal {o} points at attribute {i}, which does not exist"
                    )),
                }
            }
        }
        for (i, r) in referenced.iter().enumerate() {
            if !r {
                out.push(format!("attribute {i} is not referenced by any allocation"));
            }
        }
        let mut seen = vec![false; n];
        for &o in &self.spec.unallocated {
            match usize::try_from(o).ok().filter(|&o| o < n) {
                None => out.push(format!("free ordinal {o} is out of range")),
                Some(o) if seen[o] => out.push(format!("free ordinal {o} is listed twice")),
                Some(o) => {
                    seen[o] = true;
                    if self.spec.allocations[o].is_some() {
                        out.push(format!("ordinal {o} is both free and allocated"));
                    }
                }
            }
        }
        if self.spec.unallocated.len() + allocated != n {
            out.push(format!(
                "{} free + {allocated} allocated != {n} addresses",
                self.spec.unallocated.len()
            ));
        }
        out
    }
}

fn attribute(handle: &str, attrs: &BTreeMap<String, String>) -> AllocationAttribute {
    AllocationAttribute {
        handle_id: Some(handle.to_owned()),
        active_owner_attrs: attrs.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(cidr: &str) -> Block {
        Block::new(cidr.parse().unwrap(), Some("host:n1".into()), None, 1000)
    }
    fn none(_: IpAddr) -> bool {
        false
    }

    #[test]
    fn fifo_reuse_and_sequence_numbers() {
        let mut b = block("10.0.0.0/30");
        let attrs = BTreeMap::new();
        let a = b.assign(2, "h1", &attrs, &none);
        assert_eq!(
            a,
            vec![
                "10.0.0.0".parse::<IpAddr>().unwrap(),
                "10.0.0.1".parse().unwrap()
            ]
        );
        assert_eq!(b.sequence_of(0), Some(1000));
        assert_eq!(b.spec.sequence_number, 1001);
        // Releasing .0 puts it at the tail: .2 and .3 come first.
        b.release(a[0], Some("h1"), Some(1000)).unwrap();
        let next = b.assign(3, "h2", &attrs, &none);
        assert_eq!(
            next.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            ["10.0.0.2", "10.0.0.3", "10.0.0.0"]
        );
        assert!(b.problems().is_empty(), "{:?}", b.problems());
        assert_eq!(b.spec.attributes.len(), 2);
    }

    #[test]
    fn guards_refuse_stale_releases() {
        let mut b = block("10.0.0.0/30");
        let ip = b.assign(1, "h1", &BTreeMap::new(), &none)[0];
        let seq = b.sequence_of(0).unwrap();
        assert_eq!(
            b.release(ip, Some("other"), None),
            Err(ReleaseSkip::BadHandle)
        );
        assert_eq!(
            b.release(ip, None, Some(seq + 7)),
            Err(ReleaseSkip::BadSequenceNumber)
        );
        b.release(ip, Some("h1"), Some(seq)).unwrap();
        assert_eq!(b.release(ip, None, None), Err(ReleaseSkip::NotAllocated));
        // Reallocated: the old sequence number no longer matches.
        let again = b.assign(4, "h2", &BTreeMap::new(), &none);
        assert!(again.contains(&ip));
        assert_eq!(
            b.release(ip, None, Some(seq)),
            Err(ReleaseSkip::BadSequenceNumber)
        );
    }

    #[test]
    fn reserved_addresses_keep_their_place() {
        let mut b = block("10.0.0.0/29");
        let reserved = |ip: IpAddr| ip.to_string() == "10.0.0.0" || ip.to_string() == "10.0.0.1";
        let got = b.assign(2, "h", &BTreeMap::new(), &reserved);
        assert_eq!(
            got.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            ["10.0.0.2", "10.0.0.3"]
        );
        assert_eq!(&b.spec.unallocated[..2], &[0, 1]);
        assert_eq!(b.num_free_unreserved(&reserved), 4);
    }

    #[test]
    fn assign_ip_and_ipv6() {
        let mut b = block("fd00::/125");
        let ip: IpAddr = "fd00::5".parse().unwrap();
        b.assign_ip(ip, "h", &BTreeMap::new()).unwrap();
        assert_eq!(
            b.assign_ip(ip, "x", &BTreeMap::new()),
            Err(Some("h".into()))
        );
        assert_eq!(b.ips_of_handle("h"), vec![ip]);
        assert_eq!(b.release_handle("h"), vec![ip]);
        assert!(b.is_empty());
        assert_eq!(*b.spec.unallocated.last().unwrap(), 5);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Assign(usize, u8),
        Release(u8),
        ReleaseHandle(u8),
    }

    proptest! {
        /// Any sequence of assigns and releases keeps Calico's invariants, never hands out
        /// an address twice, and agrees with a simple model.
        #[test]
        fn block_invariants(ops in proptest::collection::vec(prop_oneof![
            (1usize..5, 0u8..4).prop_map(|(n, h)| Op::Assign(n, h)),
            (0u8..16).prop_map(Op::Release),
            (0u8..4).prop_map(Op::ReleaseHandle),
        ], 0..60)) {
            let mut b = block("10.1.0.0/28");
            let mut model: BTreeMap<IpAddr, String> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Assign(n, h) => {
                        let handle = format!("h{h}");
                        let before = model.len();
                        for ip in b.assign(n, &handle, &BTreeMap::new(), &none) {
                            prop_assert!(model.insert(ip, handle.clone()).is_none(), "{ip} handed out twice");
                        }
                        prop_assert_eq!(model.len(), (before + n).min(16));
                    }
                    Op::Release(o) => {
                        let ip = b.ip_of(o as usize);
                        let r = b.release(ip, None, None);
                        prop_assert_eq!(r.is_ok(), model.remove(&ip).is_some());
                    }
                    Op::ReleaseHandle(h) => {
                        let handle = format!("h{h}");
                        let mut got = b.release_handle(&handle);
                        got.sort();
                        let want: Vec<IpAddr> = model.iter().filter(|(_, v)| **v == handle).map(|(k, _)| *k).collect();
                        model.retain(|_, v| *v != handle);
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert!(b.problems().is_empty(), "{:?}", b.problems());
                prop_assert_eq!(b.num_free(), 16 - model.len());
            }
        }
    }
}
