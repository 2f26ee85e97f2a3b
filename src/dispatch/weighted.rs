//! The order in which a candidate group's models are tried: weighted random, without repeats.

use rand::Rng;

use crate::config::Member;

/// Model indices of a group: the first drawn by weight, each next one by weight among the rest,
/// so a 70/30 group sends ~70% of first tries to the first model and fails over to the other.
pub(crate) fn weighted_order(members: &[Member], rng: &mut impl Rng) -> Vec<usize> {
    let mut pool: Vec<Member> = members.to_vec();
    let mut order = Vec::with_capacity(pool.len());
    while !pool.is_empty() {
        let total: u64 = pool.iter().map(|m| u64::from(m.weight)).sum();
        let pick = if total == 0 {
            0
        } else {
            let mut r = rng.random_range(0..total);
            pool.iter()
                .position(|m| {
                    let w = u64::from(m.weight);
                    if r < w {
                        true
                    } else {
                        r -= w;
                        false
                    }
                })
                .unwrap_or(0)
        };
        order.push(pool.remove(pick).model);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn first_pick_follows_weights_and_all_members_follow() {
        let members = [
            Member {
                model: 0,
                weight: 70,
            },
            Member {
                model: 1,
                weight: 30,
            },
            Member {
                model: 2,
                weight: 0,
            },
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut first = [0usize; 3];
        for _ in 0..10_000 {
            let o = weighted_order(&members, &mut rng);
            assert_eq!(o.len(), 3);
            assert_eq!(*o.last().unwrap(), 2, "zero weight goes last");
            first[o[0]] += 1;
        }
        assert!((6700..=7300).contains(&first[0]), "{first:?}");
        assert_eq!(first[2], 0);
    }
}
