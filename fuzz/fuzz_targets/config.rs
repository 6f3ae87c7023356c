//! Configuration loading: arbitrary text as a feeds.toml; an accepted configuration must
//! print (`kawaraban config`) to TOML that is accepted again.
#![no_main]

use kawaraban::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text, "fuzz.toml") else {
        return;
    };
    for s in config.resolved_sources() {
        let _ = s.fingerprint();
    }
    for c in &config.categories {
        let _ = c.slug();
    }
    let printed = config.to_resolved_toml();
    if let Err(e) = Config::parse(&printed, "printed") {
        panic!("printed configuration is refused: {e}\n{printed}");
    }
});
