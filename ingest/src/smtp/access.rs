//! Client address allowlist: CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, or a bare
//! address for a single host).
//!
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as seen on a dual-stack socket) are
//! matched as the IPv4 address they carry.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A string that is not a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address block {0:?}: expected ADDRESS or ADDRESS/PREFIX")]
pub struct ParseCidrError(String);

impl Cidr {
    /// The block of `network` with `prefix` leading bits; host bits are cleared. `None`
    /// when the prefix is longer than the address.
    pub fn new(network: IpAddr, prefix: u8) -> Option<Self> {
        let network = canonical(network);
        let bits = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > bits {
            return None;
        }
        let network = match network {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & mask32(prefix)).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & mask128(prefix)).into()),
        };
        Some(Self { network, prefix })
    }

    /// The loopback blocks `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Vec<Self> {
        vec![
            Self {
                network: IpAddr::V4([127, 0, 0, 0].into()),
                prefix: 8,
            },
            Self {
                network: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }

    /// Whether `addr` lies in this block.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(network), IpAddr::V4(addr)) => {
                u32::from(addr) & mask32(self.prefix) == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(addr)) => {
                u128::from(addr) & mask128(self.prefix) == u128::from(network)
            }
            _ => false,
        }
    }

    /// Whether this block admits every address (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    /// Whether every address of this block is a loopback address.
    pub fn is_loopback_only(&self) -> bool {
        Self::loopback()
            .iter()
            .any(|loopback| self.prefix >= loopback.prefix && loopback.contains(self.network))
    }

    /// Whether any block of `list` contains `addr`.
    pub fn any_contains(list: &[Self], addr: IpAddr) -> bool {
        list.iter().any(|block| block.contains(addr))
    }
}

impl FromStr for Cidr {
    type Err = ParseCidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseCidrError(text.to_owned());
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => {
                let prefix: u8 = prefix.parse().map_err(|_| error())?;
                (address, Some(prefix))
            }
            None => (trimmed, None),
        };
        let address: IpAddr = address.parse().map_err(|_| error())?;
        let prefix = prefix.unwrap_or(match canonical(address) {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        });
        Self::new(address, prefix).ok_or_else(error)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Maps IPv4-mapped IPv6 addresses to IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::Cidr;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn smtp_cidr_matching() {
        let block: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains(ip("10.1.2.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(block.contains(ip("::ffff:10.1.9.9")));
        assert!(!block.contains(ip("2001:db8::1")));

        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));

        let all4: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all4.contains(ip("203.0.113.1")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("2001:db8::1")));

        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert_eq!(v6.to_string(), "2001:db8::/32");

        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!(Cidr::any_contains(&Cidr::loopback(), ip("127.0.0.2")));
        assert!(Cidr::any_contains(&Cidr::loopback(), ip("::1")));
    }

    #[test]
    fn smtp_cidr_loopback_only_and_everything() {
        let block = |text: &str| text.parse::<Cidr>().unwrap();
        assert!(block("127.0.0.0/8").is_loopback_only());
        assert!(block("127.1.2.3").is_loopback_only());
        assert!(block("::1").is_loopback_only());
        assert!(block("::ffff:127.0.0.1").is_loopback_only());
        assert!(!block("127.0.0.0/7").is_loopback_only());
        assert!(!block("10.0.0.0/8").is_loopback_only());
        assert!(!block("::/0").is_loopback_only());
        assert!(block("0.0.0.0/0").is_everything());
        assert!(block("::/0").is_everything());
        assert!(!block("10.0.0.0/8").is_everything());
    }

    #[test]
    fn smtp_cidr_rejects_garbage() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "example.org",
            "10.0.0.0/",
            "1.2.3.4/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
