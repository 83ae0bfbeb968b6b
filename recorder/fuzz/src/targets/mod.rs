//! The table of fuzz targets. A target takes one input and either returns its outcome class (a
//! small number saying which way the decoders went, the fuzzer's only novelty signal), returns
//! `Err` when a property that must hold for any input was violated, or panics (a bug).

mod http;
mod kernel;
mod names;
pub mod ring;
mod settings;
pub mod ts;

/// A coarse description of what an input did, e.g. which parsers accepted it. Inputs that give a
/// class not seen before are kept: cheap novelty without coverage instrumentation.
pub type Outcome = u64;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    /// What it feeds the input to and what it checks, for `list` and the docs.
    pub about: &'static str,
    /// Inputs are cut to this length.
    pub max_len: usize,
    pub check: fn(&[u8]) -> Result<Outcome, String>,
}

/// Every target, in the order `run` without names runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ring_index",
        about: "the input over the ring's index block, then open (read-only, writable), fsck",
        max_len: ring::BLOCK_LEN,
        check: ring::index,
    },
    Target {
        name: "ring_tail",
        about: "the input over either tail-pointer block, then open and fsck",
        max_len: ring::BLOCK_LEN,
        check: ring::tail,
    },
    Target {
        name: "ring_header",
        about: "the input over the newest segment's header and the block after it (roll-forward)",
        max_len: ring::BLOCK_LEN,
        check: ring::header,
    },
    Target {
        name: "ts_packets",
        about: "framer, packet headers, continuity, PAT/PMT, PES headers, H.264 scan, segmenter",
        max_len: crate::MAX_INPUT,
        check: ts::packets,
    },
    Target {
        name: "memory_name",
        about: "is_memory_name, the memory file name formatter, RFC 3339 and time parameters",
        max_len: 4096,
        check: names::memory_name,
    },
    Target {
        name: "settings_files",
        about: "config.toml, [buttons], settings.json, update.json, sidecars, wifi, preseed",
        max_len: crate::MAX_INPUT,
        check: settings::files,
    },
    Target {
        name: "http_bodies",
        about: "Range header, from/to query times, CSRF headers, session ids, upload target body",
        max_len: crate::MAX_INPUT,
        check: http::bodies,
    },
    Target {
        name: "kernel_messages",
        about: "USB uevents from the netlink socket, `iw scan` output, disk names",
        max_len: crate::MAX_INPUT,
        check: kernel::messages,
    },
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// Folds a value into an outcome class (FNV-1a over its debug form would be slower).
pub(crate) fn class(parts: &[u64]) -> Outcome {
    parts.iter().fold(0xCBF2_9CE4_8422_2325, |h, &p| {
        (h ^ p).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// `Err(message)` unless `cond`, for properties checked inside targets.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}
pub(crate) use ensure;
