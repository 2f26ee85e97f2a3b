//! Context-overflow trimming as a pure function: which oldest turns of a chat conversation to
//! drop so the rest fits a context window.
//!
//! A *turn* is a `user` message and every message after it up to the next `user` message
//! (assistant answers, tool calls and their results), `system` / `developer` messages
//! excepted; messages before the first `user` message form one turn of their own. Turns are
//! dropped whole, oldest first, so an assistant message with `tool_calls` is never separated
//! from the `tool` messages answering it. Never dropped: every `system` / `developer` message
//! (wherever it stands) and the last turn, i.e. the last `user` message and everything after
//! it. Counting is the caller's: it passes each message's tokens and the tokens that stay
//! whatever is dropped (tools, reply priming, the `max_tokens` reservation).

use std::ops::Range;

/// Whether a role is a prompt the operator or app wrote, never trimmed.
fn is_instruction(role: &str) -> bool {
    matches!(role, "system" | "developer")
}

/// The droppable turns, oldest first, as ranges of message indices (instructions inside a
/// range are kept even when the range is dropped).
pub(crate) fn turns(roles: &[&str]) -> Vec<Range<usize>> {
    let Some(last_user) = roles.iter().rposition(|r| *r == "user") else {
        return Vec::new();
    };
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut start = None;
    for (i, role) in roles[..last_user].iter().enumerate() {
        if *role == "user" {
            if let Some(s) = start.take() {
                out.push(s..i);
            }
            start = Some(i);
        } else if start.is_none() && !is_instruction(role) {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(s..last_user);
    }
    out
}

/// The messages to drop (indices, ascending) so that `fixed` plus the kept messages' `costs`
/// is at most `window`: the fewest oldest turns that do it, plus `extra` more turns (for a
/// caller whose exact recount found the estimate short). `Some(empty)` when it fits already;
/// `None` when even dropping every droppable turn does not fit.
pub(crate) fn oldest_turns(
    roles: &[&str],
    costs: &[u64],
    fixed: u64,
    window: u64,
    extra: usize,
) -> Option<Vec<usize>> {
    let droppable = |r: &Range<usize>| r.clone().filter(|&i| !is_instruction(roles[i]));
    let mut total = fixed.saturating_add(costs.iter().sum());
    let units = turns(roles);
    let mut taken = 0;
    while total > window {
        let unit = units.get(taken)?;
        total = total.saturating_sub(droppable(unit).map(|i| costs[i]).sum());
        taken += 1;
    }
    let taken = taken + extra;
    if taken > units.len() {
        return None;
    }
    Some(units[..taken].iter().flat_map(droppable).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn turns_are_user_led_and_the_last_one_is_never_a_candidate() {
        let roles = [
            "system",
            "user",
            "assistant",
            "user",
            "assistant",
            "tool",
            "tool",
            "user",
        ];
        assert_eq!(turns(&roles), vec![1..3, 3..7]);
        assert_eq!(turns(&["assistant", "user", "user"]), vec![0..1, 1..2]);
        assert!(turns(&["system", "assistant"]).is_empty());
        assert!(turns(&["user"]).is_empty());
    }

    #[test]
    fn the_oldest_turns_go_first_and_only_as_many_as_needed() {
        let roles = ["system", "user", "assistant", "user", "assistant", "user"];
        let costs = [10, 100, 100, 50, 50, 20];
        // 330 in all: dropping the first turn (200) leaves 130
        assert_eq!(oldest_turns(&roles, &costs, 0, 330, 0), Some(vec![]));
        assert_eq!(oldest_turns(&roles, &costs, 0, 200, 0), Some(vec![1, 2]));
        assert_eq!(oldest_turns(&roles, &costs, 0, 130, 0), Some(vec![1, 2]));
        assert_eq!(
            oldest_turns(&roles, &costs, 0, 129, 0),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(
            oldest_turns(&roles, &costs, 0, 200, 1),
            Some(vec![1, 2, 3, 4])
        );
        // system + last user = 30, plus 5 fixed
        assert_eq!(
            oldest_turns(&roles, &costs, 5, 35, 0),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(oldest_turns(&roles, &costs, 5, 34, 0), None);
    }

    #[test]
    fn an_instruction_inside_a_dropped_turn_stays() {
        let roles = ["user", "developer", "assistant", "user"];
        let costs = [100, 5, 100, 10];
        assert_eq!(oldest_turns(&roles, &costs, 0, 20, 0), Some(vec![0, 2]));
    }

    fn role() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("system"),
            Just("developer"),
            Just("user"),
            Just("user"),
            Just("assistant"),
            Just("assistant+calls"),
        ]
    }

    /// A conversation where each `assistant+calls` is followed by 1..3 tool results.
    fn conversation() -> impl Strategy<Value = Vec<(&'static str, u64)>> {
        prop::collection::vec((role(), 1u64..200, 1usize..4), 1..30).prop_map(|spec| {
            let mut out = Vec::new();
            for (role, cost, tools) in spec {
                if role == "assistant+calls" {
                    out.push(("assistant+calls", cost));
                    out.extend((0..tools).map(|_| ("tool", cost / 2 + 1)));
                } else {
                    out.push((role, cost));
                }
            }
            out
        })
    }

    proptest! {
        #[test]
        fn trimming_keeps_its_invariants(conv in conversation(), fixed in 0u64..100, window in 0u64..4000) {
            let roles: Vec<&str> = conv.iter().map(|(r, _)| if *r == "assistant+calls" { "assistant" } else { *r }).collect();
            let costs: Vec<u64> = conv.iter().map(|(_, c)| *c).collect();
            let total = fixed + costs.iter().sum::<u64>();
            let Some(dropped) = oldest_turns(&roles, &costs, fixed, window, 0) else {
                // only when even the protected messages do not fit
                let last_user = roles.iter().rposition(|r| *r == "user");
                let kept: u64 = roles.iter().enumerate()
                    .filter(|(i, r)| is_instruction(r) || last_user.is_none_or(|l| *i >= l))
                    .map(|(i, _)| costs[i]).sum();
                prop_assert!(fixed + kept > window);
                return Ok(());
            };
            let kept: u64 = fixed + (0..roles.len()).filter(|i| !dropped.contains(i)).map(|i| costs[i]).sum::<u64>();
            prop_assert!(kept <= window || total <= window);
            let last_user = roles.iter().rposition(|r| *r == "user");
            for &i in &dropped {
                prop_assert!(!is_instruction(roles[i]), "an instruction was dropped");
                prop_assert!(last_user.is_some_and(|l| i < l), "the last turn was touched");
            }
            // a tool result is kept exactly when the call that asked for it is
            for (i, (role, _)) in conv.iter().enumerate() {
                if *role == "tool" {
                    let call = (0..i).rev().find(|&j| conv[j].0 != "tool").unwrap();
                    prop_assert_eq!(conv[call].0, "assistant+calls");
                    prop_assert_eq!(dropped.contains(&i), dropped.contains(&call));
                }
            }
            // the fewest turns: keeping the newest dropped turn would not fit
            if let Some(&newest) = dropped.last() {
                let unit = turns(&roles).into_iter().find(|u| u.contains(&newest)).unwrap();
                let back: u64 = unit.filter(|&i| !is_instruction(roles[i])).map(|i| costs[i]).sum();
                prop_assert!(kept + back > window);
            }
        }
    }
}
