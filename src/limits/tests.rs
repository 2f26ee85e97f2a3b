//! The limiter on in-process state, driven by paused tokio time and explicit dates.

use std::time::{Duration, SystemTime};

use super::*;

fn day(rfc: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc).unwrap()
}

fn ann(user: Limits, team: Limits, global: Limits) -> Subject {
    Subject {
        user: Some("ann".into()),
        team: Some("core".into()),
        user_limits: user,
        team_limits: team,
        global,
    }
}

fn rates(rpm: Option<u64>, tpm: Option<u64>) -> Limits {
    Limits {
        rpm,
        tpm,
        ..Limits::default()
    }
}

fn budget(daily: Option<f64>, monthly: Option<f64>) -> Limits {
    Limits {
        daily_usd: daily,
        monthly_usd: monthly,
        ..Limits::default()
    }
}

#[tokio::test(start_paused = true)]
async fn refusal_takes_nothing_and_names_the_tightest_rule() {
    let l = Limiter::new(None, 0.8);
    let s = ann(
        rates(Some(10), None),
        Limits::default(),
        rates(None, Some(100)),
    );
    let q = l.admit(&s, 60).await.unwrap();
    assert_eq!(q.requests.unwrap().remaining, 9);
    assert_eq!(q.tokens.unwrap().remaining, 40);
    match l.admit(&s, 60).await {
        Err(RateRefusal::Limited {
            scope,
            limit,
            retry_after,
            quotas,
        }) => {
            assert_eq!((scope, limit), (Scope::Global, LimitName::Tpm));
            assert_eq!(
                retry_after,
                Duration::from_secs(12),
                "20 tokens at 0.6 s each"
            );
            assert_eq!(
                quotas.requests.unwrap().remaining,
                9,
                "the user rpm was not taken"
            );
            assert_eq!(quotas.tokens.unwrap().remaining, 40);
        }
        r => panic!("{r:?}"),
    }
    tokio::time::advance(Duration::from_secs(12)).await;
    let q = l.admit(&s, 60).await.unwrap();
    assert_eq!(
        q.requests.unwrap().remaining,
        9,
        "twelve seconds refilled the rpm"
    );
    assert_eq!(q.tokens.unwrap().remaining, 0);
}

#[tokio::test(start_paused = true)]
async fn buckets_refill_continuously() {
    let l = Limiter::new(None, 0.8);
    let s = ann(rates(Some(2), None), Limits::default(), Limits::default());
    l.admit(&s, 0).await.unwrap();
    let q = l.admit(&s, 0).await.unwrap().requests.unwrap();
    assert_eq!(
        (q.limit, q.remaining, q.reset),
        (2, 0, Duration::from_secs(60))
    );
    let r = l.admit(&s, 0).await.unwrap_err();
    assert!(
        matches!(r, RateRefusal::Limited { retry_after, .. } if retry_after == Duration::from_secs(30))
    );
    assert_eq!(r.to_string(), "user rpm limit reached; retry in 30s");
    tokio::time::advance(Duration::from_secs(30)).await;
    l.admit(&s, 0).await.unwrap();
    assert!(l.admit(&s, 0).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn oversized_prompts_never_fit_and_completions_go_into_debt() {
    let l = Limiter::new(None, 0.8);
    let s = ann(rates(None, Some(100)), Limits::default(), Limits::default());
    let r = l.admit(&s, 150).await.unwrap_err();
    assert!(matches!(
        r,
        RateRefusal::TooLarge {
            cost: 150,
            capacity: 100,
            ..
        }
    ));
    assert!(r.to_string().contains("can never be admitted"), "{r}");
    l.admit(&s, 50).await.unwrap();
    l.add_tokens(&s, 100).await;
    match l.admit(&s, 1).await {
        Err(RateRefusal::Limited { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_millis(30_600));
        }
        r => panic!("{r:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn reports_the_most_constraining_quota() {
    let l = Limiter::new(None, 0.8);
    let s = ann(
        rates(Some(10), Some(1000)),
        rates(Some(5), None),
        rates(None, Some(500)),
    );
    let q = l.admit(&s, 100).await.unwrap();
    assert_eq!(q.requests.unwrap().limit, 5);
    assert_eq!(q.tokens.unwrap().limit, 500);
    assert_eq!(q.tokens.unwrap().remaining, 400);
}

#[tokio::test]
async fn no_limits_cost_nothing() {
    let l = Limiter::new(None, 0.8);
    let s = Subject::default();
    assert_eq!(l.admit(&s, 1_000_000).await.unwrap(), Quotas::default());
    let hold = l.reserve(&s, 5.0, SystemTime::now()).await.unwrap();
    assert!(hold.is_empty());
    assert!(l.settle(hold, 5.0).await.is_empty());
    assert!(l.spend(&s, SystemTime::now()).await.is_empty());
}

#[tokio::test]
async fn reservations_are_all_or_nothing_and_released_on_settle() {
    let l = Limiter::new(None, 0.8);
    let now = day("2026-11-23T10:00:00Z");
    let s = ann(
        budget(Some(10.0), None),
        Limits::default(),
        budget(None, Some(4.0)),
    );
    let h1 = l.reserve(&s, 3.0, now).await.unwrap();
    assert_eq!(h1.reserved_usd(), 3.0);
    match l.reserve(&s, 1.5, now).await {
        Err(BudgetRefusal::Exhausted {
            scope,
            period,
            period_id,
            limit_usd,
            reserved_usd,
            resets_at,
            ..
        }) => {
            assert_eq!((scope, period), (Scope::Global, Period::Monthly));
            assert_eq!(
                (&*period_id, limit_usd, reserved_usd),
                ("2026-11", 4.0, 3.0)
            );
            assert_eq!(
                humantime::format_rfc3339_seconds(resets_at).to_string(),
                "2026-12-01T00:00:00Z"
            );
        }
        r => panic!("{r:?}"),
    }
    let st = l.spend(&s, now).await;
    assert_eq!(st.len(), 2);
    assert_eq!(
        st[0].reserved_usd, 3.0,
        "the refused reservation left nothing"
    );
    assert!(l.settle(h1, 1.0).await.is_empty());
    let st = l.spend(&s, now).await;
    assert_eq!((st[0].spent_usd, st[0].reserved_usd), (1.0, 0.0));
    assert_eq!((st[1].spent_usd, st[1].reserved_usd), (1.0, 0.0));
    l.reserve(&s, 3.0, now)
        .await
        .unwrap()
        .settle_in(&l, 3.0)
        .await;
    let r = l.reserve(&s, 0.0, now).await.unwrap_err();
    assert!(
        r.to_string().contains("resets at 2026-12-01T00:00:00Z"),
        "{r}"
    );
}

#[tokio::test]
async fn crossings_fire_once_each() {
    let l = Limiter::new(None, 0.8);
    let now = day("2026-11-23T10:00:00Z");
    let s = ann(
        budget(Some(10.0), None),
        Limits::default(),
        Limits::default(),
    );
    let c = l
        .reserve(&s, 5.0, now)
        .await
        .unwrap()
        .settle_in(&l, 7.0)
        .await;
    assert!(c.is_empty());
    let c = l
        .reserve(&s, 1.0, now)
        .await
        .unwrap()
        .settle_in(&l, 1.0)
        .await;
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].event, c[0].spent_usd, c[0].limit_usd),
        (BudgetEvent::Warning, 8.0, 10.0)
    );
    assert_eq!((&*c[0].name, c[0].period), ("ann", Period::Daily));
    let c = l
        .reserve(&s, 1.0, now)
        .await
        .unwrap()
        .settle_in(&l, 1.0)
        .await;
    assert!(c.is_empty(), "the warning fired already");
    // an unreserved request (policy `degrade`) still charges, and can exceed
    let c = l.settle(Hold::unreserved(&s, now), 1.5).await;
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].event, BudgetEvent::Exceeded);
    assert!(l.settle(Hold::unreserved(&s, now), 1.0).await.is_empty());
}

#[tokio::test]
async fn a_new_day_starts_a_new_daily_budget_but_not_a_new_month() {
    let l = Limiter::new(None, 0.8);
    let s = ann(
        budget(Some(2.0), Some(3.0)),
        Limits::default(),
        Limits::default(),
    );
    let today = day("2026-11-23T23:59:00Z");
    l.reserve(&s, 2.0, today)
        .await
        .unwrap()
        .settle_in(&l, 2.0)
        .await;
    let r = l.reserve(&s, 0.1, today).await.unwrap_err();
    assert!(matches!(
        r,
        BudgetRefusal::Exhausted {
            period: Period::Daily,
            ..
        }
    ));
    let tomorrow = day("2026-11-24T00:00:01Z");
    l.reserve(&s, 1.0, tomorrow)
        .await
        .unwrap()
        .settle_in(&l, 1.0)
        .await;
    let r = l.reserve(&s, 0.1, tomorrow).await.unwrap_err();
    assert!(matches!(
        r,
        BudgetRefusal::Exhausted {
            period: Period::Monthly,
            ..
        }
    ));
    let st = l.spend(&s, day("2026-12-01T00:00:00Z")).await;
    assert!(st.iter().all(|b| b.spent_usd == 0.0), "{st:?}");
}

#[tokio::test(start_paused = true)]
async fn unsettled_holds_lapse() {
    let l = Limiter::new(None, 0.8);
    let now = day("2026-11-23T10:00:00Z");
    let s = ann(
        budget(Some(1.0), None),
        Limits::default(),
        Limits::default(),
    );
    let lost = l.reserve(&s, 1.0, now).await.unwrap();
    assert!(l.reserve(&s, 0.5, now).await.is_err());
    tokio::time::advance(hold::HOLD_TTL).await;
    let h = l.reserve(&s, 0.5, now).await.unwrap();
    assert_eq!(l.spend(&s, now).await[0].reserved_usd, 0.5);
    l.settle(lost, 0.25).await;
    let st = &l.spend(&s, now).await[0];
    assert_eq!(
        (st.spent_usd, st.reserved_usd),
        (0.25, 0.5),
        "a late settle still charges"
    );
    drop(h);
}

#[tokio::test]
async fn the_ledger_rebuilds_current_spend() {
    let l = Limiter::new(None, 0.8);
    let now = day("2026-11-23T12:00:00Z");
    let rec = |ts: &str, user: &str, cost: f64, billed: bool| UsageRecord {
        ts: ts.into(),
        user: Some(user.into()),
        team: Some("core".into()),
        cost_usd: cost,
        billed,
        ..UsageRecord::default()
    };
    let records = vec![
        rec("2026-11-23T01:00:00.123Z", "ann", 1.0, true),
        rec("2026-11-22T23:00:00Z", "ann", 2.0, true),
        rec("2026-10-31T23:00:00Z", "ann", 4.0, true),
        rec("2026-11-23T02:00:00Z", "bob", 8.0, true),
        rec("2026-11-23T03:00:00Z", "ann", 16.0, false),
        rec("not a time", "ann", 32.0, true),
    ];
    assert_eq!(l.rebuild_from_ledger(records.into_iter(), now), 3);
    let all = budget(Some(100.0), Some(100.0));
    let s = ann(all, all, all);
    let st = l.spend(&s, now).await;
    let spent: Vec<_> = st
        .iter()
        .map(|b| (b.scope, b.period, b.spent_usd))
        .collect();
    assert_eq!(
        spent,
        vec![
            (Scope::User, Period::Daily, 1.0),
            (Scope::User, Period::Monthly, 3.0),
            (Scope::Team, Period::Daily, 9.0),
            (Scope::Team, Period::Monthly, 11.0),
            (Scope::Global, Period::Daily, 9.0),
            (Scope::Global, Period::Monthly, 11.0),
        ]
    );
    assert_eq!(l.global_spend(&all, now).await.len(), 2);
}

#[test]
fn holds_can_be_settled_from_spawned_tasks() {
    fn send_static<T: Send + 'static>() {}
    send_static::<Hold>();
    send_static::<Limiter>();
}

impl Hold {
    async fn settle_in(self, l: &Limiter, actual: f64) -> Vec<Crossing> {
        l.settle(self, actual).await
    }
}
