//! Year rotation: a volume holds the mail received in one calendar year (UTC), so once
//! the year has ended nothing more arrives for it; after a grace period (for clocks that
//! disagree and deliveries in flight at midnight) it is sealed — a final signed tree
//! head, then read-only — and may move to secondary storage (`coffer volume move`).
//!
//! [`due_for_sealing`] is the rule (pure); [`seal_due`] applies it to a volume set.
//! `coffer serve` runs it at start and then periodically (`[rotation]` in coffer.toml).

use coffer_volume::{SignedTreeHead, VolumeSet, VolumeState};

/// One microsecond short of a day.
const DAY_US: i64 = 86_400 * 1_000_000;

/// The first moment (Unix microseconds) of `year`, UTC.
fn start_of_year(year: i32) -> i64 {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .map_or(i64::MAX, |t| t.timestamp_micros())
}

/// The years among `volumes` (year, state) whose volume is open, whose year has ended
/// and whose grace period of `grace_days` after the end has passed at `now_us`.
pub fn due_for_sealing(volumes: &[(i32, VolumeState)], now_us: i64, grace_days: u32) -> Vec<i32> {
    volumes
        .iter()
        .filter(|(_, state)| *state == VolumeState::Open)
        .filter(|(year, _)| {
            let ended = start_of_year(year.saturating_add(1));
            ended
                .checked_add(i64::from(grace_days) * DAY_US)
                .is_some_and(|due| now_us >= due)
        })
        .map(|(year, _)| *year)
        .collect()
}

/// Seals every volume of `set` that is due at `now_us` (blocking). Offline volumes are
/// sealed already (only sealed volumes move) and are skipped.
pub fn seal_due(
    set: &VolumeSet,
    now_us: i64,
    grace_days: u32,
) -> coffer_volume::Result<Vec<(i32, SignedTreeHead)>> {
    let mut states = Vec::new();
    for year in set.years()? {
        match set.get(year) {
            Ok(Some(volume)) => states.push((year, volume.manifest().state)),
            Ok(None) | Err(coffer_volume::Error::Offline { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let mut sealed = Vec::new();
    for year in due_for_sealing(&states, now_us, grace_days) {
        if let Some(volume) = set.get(year)? {
            sealed.push((year, volume.seal()?));
        }
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_is_due_once_it_has_ended_and_the_grace_has_passed() {
        let volumes = [
            (2025, VolumeState::Open),
            (2026, VolumeState::Open),
            (2024, VolumeState::Sealed),
        ];
        let jan = |d: i64| start_of_year(2027) + (d - 1) * DAY_US;
        assert_eq!(due_for_sealing(&volumes, jan(1) - 1, 0), vec![2025]);
        assert_eq!(due_for_sealing(&volumes, jan(1), 0), vec![2025, 2026]);
        assert_eq!(due_for_sealing(&volumes, jan(7), 7), vec![2025]);
        assert_eq!(due_for_sealing(&volumes, jan(8), 7), vec![2025, 2026]);
    }
}
