//! The rewrite semantics against an obviously correct reference, on random cases.

use instruction_diversity::engine::task::Rule;
use instruction_diversity::engine::task::rule::{count_occurrences, leftmost_occurrence};
use proptest::prelude::*;

/// Scans every start position in order and rewrites at the first match: the definition, spelled out.
fn naive_apply(x: &str, y: &str, z: &str) -> String {
    let (zc, xc): (Vec<char>, Vec<char>) = (z.chars().collect(), x.chars().collect());
    for start in 0..zc.len() {
        if start + xc.len() <= zc.len() && zc[start..start + xc.len()] == xc[..] {
            let before: String = zc[..start].iter().collect();
            let after: String = zc[start + xc.len()..].iter().collect();
            return format!("{before}{y}{after}");
        }
    }
    z.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn leftmost_rewrite_matches_the_naive_reference(
        x in "[abc]{1,3}", y in "[abc]{0,3}", z in "[abc]{0,12}"
    ) {
        prop_assert_eq!(Rule::new(x.clone(), y.clone()).apply(&z), naive_apply(&x, &y, &z));
    }

    #[test]
    fn noop_exactly_when_x_is_absent(x in "[ab]{1,3}", y in "[ab]{0,3}", z in "[ab]{0,10}") {
        let rule = Rule::new(x.clone(), y.clone());
        let absent = !z.contains(x.as_str());
        prop_assert_eq!(rule.is_noop_on(&z), absent);
        prop_assert_eq!(count_occurrences(&x, &z) == 0, absent);
        if absent {
            prop_assert_eq!(rule.apply(&z), z.clone());
        } else if x != y {
            prop_assert_ne!(rule.apply(&z), z.clone());
        }
    }

    #[test]
    fn leftmost_occurrence_agrees_with_std(x in "[ab]{1,3}", z in "[ab]{0,10}") {
        prop_assert_eq!(leftmost_occurrence(&x, &z), z.find(x.as_str()));
    }
}
