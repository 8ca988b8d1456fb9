//! Decoding a job's payload from async code: small ones inline, big ones on a blocking
//! thread, so a 10 MB job never stalls the runtime's Redis I/O, lease renewals or other jobs;
//! within a [`DecodeLimits`] budget. (A big job's result is encoded off the runtime by
//! `worker::outcome`.)

use super::limits::DecodeLimits;
use super::{Codec, CodecError, Globals};
use lyanna_task_api::Value;

/// Decodes a job payload (globals refused) within `limits`: inline below
/// `limits.inline_below` bytes, else with `tokio::task::spawn_blocking`. The payload is
/// dropped as soon as it is decoded, and a refused or failed decode frees everything it
/// built before returning.
pub async fn decode_job(
    codec: Codec,
    payload: Vec<u8>,
    limits: DecodeLimits,
) -> Result<Value, CodecError> {
    if payload.len() < limits.inline_below {
        return codec.decode_with(&payload, Globals::Refuse, &limits);
    }
    tokio::task::spawn_blocking(move || codec.decode_with(&payload, Globals::Refuse, &limits))
        .await
        .map_err(|e| CodecError::Malformed(format!("decoder thread failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big_dict(n: i64) -> Value {
        Value::Dict(
            (0..n)
                .map(|i| (Value::str(format!("k{i}")), Value::Int(i)))
                .collect(),
        )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn small_inline_big_blocking_and_budget() {
        let limits = DecodeLimits::default();
        let small = Codec::Pickle.encode(&Value::Int(7)).unwrap();
        assert_eq!(
            decode_job(Codec::Pickle, small, limits).await.unwrap(),
            Value::Int(7)
        );

        // 100k keys: above the inline threshold, so decoded on a blocking thread while this
        // (single-threaded) runtime stays free.
        let value = big_dict(100_000);
        let bytes = Codec::Pickle.encode(&value).unwrap();
        assert!(bytes.len() > limits.inline_below);
        let ticker = tokio::spawn(async {
            let mut ticks = 0;
            for _ in 0..5 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                ticks += 1;
            }
            ticks
        });
        let decoded = decode_job(Codec::Pickle, bytes.clone(), limits)
            .await
            .unwrap();
        assert_eq!(decoded, value);
        assert_eq!(ticker.await.unwrap(), 5);

        // The same bytes under a hard cap below what they need: refused, with the reason.
        let tight = DecodeLimits {
            max_bytes: 1 << 20,
            ..limits
        };
        let err = decode_job(Codec::Pickle, bytes, tight).await.unwrap_err();
        assert!(matches!(err, CodecError::OverBudget { .. }), "{err}");
        assert!(err.to_string().contains("budget"), "{err}");
    }
}
