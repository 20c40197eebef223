//! One deadline for a whole GraphQL-over-HTTP request: reading its body, running it,
//! serialising the answer and writing it out. Past it, a request still being handled gets
//! `504` with `TIMEOUT`; an answer still being written is cut off after its first 64 KiB piece
//! (the connection is closed, so the client sees an incomplete answer rather than a truncated
//! one that looks whole).

use super::reply::{refusal, Media};
use crate::error::ErrorCode;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Pieces an answer is written in, so that the deadline is checked while it is written.
const PIECE: usize = 64 * 1024;

/// `answer`, within `limit` of now (no limit when `None`).
pub(super) async fn within(
    limit: Option<Duration>,
    media: Media,
    answer: impl Future<Output = Response>,
) -> Response {
    let Some(limit) = limit else {
        return answer.await;
    };
    let deadline = Instant::now() + limit;
    match tokio::time::timeout_at(deadline, answer).await {
        Ok(response) => response.map(|body| {
            Body::new(Deadline {
                body,
                rest: Bytes::new(),
                first: true,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
            })
        }),
        Err(_) => {
            tracing::warn!(limit_ms = limit.as_millis(), "request timed out");
            refusal(
                media,
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::Timeout,
                format!("the request did not finish within {} ms", limit.as_millis()),
            )
        }
    }
}

/// A response body that fails once the deadline has passed.
struct Deadline {
    body: Body,
    /// What is left of the current data frame.
    rest: Bytes,
    /// Whether no piece has been written yet.
    first: bool,
    deadline: Pin<Box<Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        // The first piece goes out whatever the time: an answer that was ready by the deadline
        // is not cut for being written a moment after it (a client that does not read it is
        // the idle timeout's business).
        if !this.first && this.deadline.as_mut().poll(cx).is_ready() {
            tracing::warn!("answer cut off: the request deadline passed while it was written");
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request deadline passed while the answer was written",
            ))));
        }
        if this.rest.is_empty() {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.rest = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(std::io::Error::other(e))))
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
        let piece = this.rest.split_to(this.rest.len().min(PIECE));
        this.first = false;
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.body.size_hint();
        let rest = self.rest.len() as u64;
        hint.set_lower(hint.lower() + rest);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}
