//! The quota of concurrent tunnels per endpoint: the next one is refused,
//! a Close frees a place before the client sees it, and the peak is kept.

use futures_util::SinkExt;

use super::*;

#[tokio::test]
async fn a_tunnel_past_the_quota_is_refused_until_one_closes() {
    within(async {
        let sim = sim_with(echo_target().await, |c| c.tunnels_per_endpoint = 3).await;
        let mut open_now = Vec::new();
        for _ in 0..3 {
            open_now.push(open(&sim, &params("22")).await.unwrap());
        }
        let (status, body, _) = refusal(open(&sim, &params("22")).await);
        assert_eq!(status, 429);
        assert_eq!(body["ErrorCode"], QUOTA_EXCEEDED);
        let message = body["Message"].as_str().unwrap();
        assert!(
            message.contains("maximum number of 3 concurrent"),
            "{message}"
        );

        // The client closes one; once it has the service's Close, a new
        // tunnel is accepted at once: the place was free before the Close.
        let mut first = open_now.remove(0);
        first.send(Message::Close(None)).await.unwrap();
        next_close(&mut first).await;
        let fourth = open(&sim, &params("22")).await.expect("a place was freed");
        open_now.push(fourth);
        let stats = sim.stats();
        let endpoint = "eice-0123456789abcdef0";
        assert_eq!(stats.endpoint_peaks[endpoint], 3);
        assert_eq!(stats.endpoint_tunnels[endpoint], 3);
        assert_eq!(stats.rejected, [QUOTA_EXCEEDED]);
    })
    .await;
}
