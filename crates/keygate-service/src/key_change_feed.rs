//! The feed of key changes a node passes on to the services keygate protects, so that
//! `keygate-client` can verify repeated keys in-process and still never accept a key for long
//! after it was revoked (`GET /api/v1/api-key-changes`).
//!
//! The feed is fed by the same events that keep keygate's own nodes coherent: every key write of
//! this node ([`Service::write_keys`](crate::Service)) publishes its changed keys after the commit
//! and before its response is sent, and on Postgres every change another node announces arrives
//! through the key-change listener ([`KeyChangeFeed::on_key_change`]). Each subscription sees
//! only its own project's keys. On Postgres a node's own writes arrive a second time through
//! its listener; that repeat is kept rather than filtered (a client drops an absent row for
//! nothing), because the direct publish is what makes a change reach the streams before the
//! write's response.
//!
//! **Key decision: a subscriber hears every change or is told to stop trusting.** A subscription
//! ends (and its client must distrust what it cached until it subscribes again) when this node
//! stops hearing every change (its Postgres listener is down), when the subscriber falls more
//! than [`KeyChangeFeedSettings::buffer`] events behind, or when the node shuts down; and no
//! subscription starts while the node does not hear every change. Nothing is ever dropped
//! silently.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{ApiKeyId, ProjectId};
use keygate_storage::key_changes::{ChangedKey, KeyChangeEvent};
use tokio::sync::broadcast;

/// Bounds of the feed (`[key_change_feed]` in the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChangeFeedSettings {
    /// How many subscriptions the node serves at once (every protected service's client holds
    /// one); more are refused until one ends.
    pub max_subscribers: usize,
    /// How many change events a subscriber may fall behind before its subscription is ended.
    pub buffer: usize,
    /// How often a subscription with nothing to say tells its client it is still there; a
    /// client distrusts its cache after three intervals without a word.
    pub heartbeat: Duration,
}

impl Default for KeyChangeFeedSettings {
    /// 1,000 subscribers, 1,024 events of slack, a heartbeat every 250 ms (a client stops
    /// trusting after 750 ms of silence: within the second a revocation may take to arrive).
    fn default() -> Self {
        KeyChangeFeedSettings {
            max_subscribers: 1_000,
            buffer: 1_024,
            heartbeat: Duration::from_millis(250),
        }
    }
}

/// What the feed carries between its publishers and its subscribers.
#[derive(Debug, Clone)]
enum FeedEvent {
    /// These keys changed or were deleted.
    Changed(Arc<[ChangedKey]>),
    /// The node stopped hearing every change, or is shutting down: every subscription ends.
    Interrupted,
}

/// Why a subscription was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The node does not hear every change right now (its Postgres listener is down, or it is
    /// shutting down): a subscription could miss some.
    #[error("this node does not hear every key change right now")]
    NotFollowing,
    /// [`KeyChangeFeedSettings::max_subscribers`] subscriptions are open.
    #[error("the node serves {0} key-change subscriptions already")]
    Full(usize),
}

/// The node's feed of key changes; one per [`Service`](crate::Service).
pub struct KeyChangeFeed {
    sender: broadcast::Sender<FeedEvent>,
    settings: KeyChangeFeedSettings,
    /// Whether this node hears every change (always on SQLite, a single node; on Postgres while
    /// the listener is subscribed).
    following: AtomicBool,
    /// Set once at shutdown: no subscription starts again.
    closed: AtomicBool,
    subscribers: Arc<AtomicUsize>,
}

impl fmt::Debug for KeyChangeFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyChangeFeed")
            .field("settings", &self.settings)
            .field("following", &self.following.load(Ordering::SeqCst))
            .field("subscribers", &self.subscribers.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl KeyChangeFeed {
    /// A feed bounded by `settings` that hears every change (set it to
    /// [`KeyChangeFeed::set_following`] `false` before serving on Postgres, until the listener
    /// has subscribed).
    pub fn new(settings: KeyChangeFeedSettings) -> Self {
        let (sender, _) = broadcast::channel(settings.buffer.max(1));
        KeyChangeFeed {
            sender,
            settings,
            following: AtomicBool::new(true),
            closed: AtomicBool::new(false),
            subscribers: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The feed's bounds.
    pub fn settings(&self) -> &KeyChangeFeedSettings {
        &self.settings
    }

    /// Starts a subscription to `project`'s key changes, from now on.
    ///
    /// # Errors
    /// [`SubscribeError::NotFollowing`] while this node may miss changes or is shutting down,
    /// [`SubscribeError::Full`] when it serves as many subscriptions as it may.
    pub fn subscribe(&self, project: ProjectId) -> Result<KeyChangeSubscription, SubscribeError> {
        // Subscribe before reading the flags: a change published after a `true` read is heard.
        let receiver = self.sender.subscribe();
        if !self.following.load(Ordering::SeqCst) || self.closed.load(Ordering::SeqCst) {
            return Err(SubscribeError::NotFollowing);
        }
        let max = self.settings.max_subscribers;
        self.subscribers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < max).then_some(open + 1)
            })
            .map_err(|_| SubscribeError::Full(max))?;
        Ok(KeyChangeSubscription {
            receiver,
            project,
            subscribers: Arc::clone(&self.subscribers),
        })
    }

    /// Passes on keys changed by a write of this node or another (called after the commit).
    pub fn publish(&self, changed: &[ChangedKey]) {
        if !changed.is_empty() {
            // No subscriber: nothing to tell.
            let _ = self.sender.send(FeedEvent::Changed(changed.into()));
        }
    }

    /// Whether this node hears every change; when it stops, every subscription ends.
    pub fn set_following(&self, following: bool) {
        self.following.store(following, Ordering::SeqCst);
        if !following {
            let _ = self.sender.send(FeedEvent::Interrupted);
        }
    }

    /// Applies what the key-change listener reports (Postgres).
    pub fn on_key_change(&self, event: &KeyChangeEvent) {
        match event {
            KeyChangeEvent::Listening => self.set_following(true),
            KeyChangeEvent::Lost => self.set_following(false),
            KeyChangeEvent::Changed(changed) => self.publish(changed),
            KeyChangeEvent::CredentialsChanged(_) => {}
        }
    }

    /// Ends every subscription and starts no more (at shutdown, so that the open streams do not
    /// hold the server's graceful stop until its timeout).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.sender.send(FeedEvent::Interrupted);
    }

    /// How many subscriptions are open.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }
}

/// One subscriber's view of the feed: its project's changed keys, in order.
#[derive(Debug)]
pub struct KeyChangeSubscription {
    receiver: broadcast::Receiver<FeedEvent>,
    project: ProjectId,
    subscribers: Arc<AtomicUsize>,
}

impl KeyChangeSubscription {
    /// The ids of the project's keys that changed next, or `None` once the subscription has
    /// ended (the node may have missed a change, the subscriber fell behind, or the node is
    /// shutting down): from then on, what the subscriber cached must not be trusted.
    pub async fn next(&mut self) -> Option<Vec<ApiKeyId>> {
        loop {
            match self.receiver.recv().await {
                Ok(FeedEvent::Changed(changed)) => {
                    let ids: Vec<ApiKeyId> = changed
                        .iter()
                        .filter(|change| change.project == self.project)
                        .map(|change| change.id)
                        .collect();
                    if !ids.is_empty() {
                        return Some(ids);
                    }
                }
                Ok(FeedEvent::Interrupted) => return None,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "a key-change subscriber fell behind; its subscription ends"
                    );
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for KeyChangeSubscription {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(project: ProjectId) -> ChangedKey {
        ChangedKey {
            id: ApiKeyId::new_random(),
            project,
        }
    }

    fn settings(max_subscribers: usize, buffer: usize) -> KeyChangeFeedSettings {
        KeyChangeFeedSettings {
            max_subscribers,
            buffer,
            ..KeyChangeFeedSettings::default()
        }
    }

    #[tokio::test]
    async fn a_subscriber_hears_its_own_projects_changes_in_order() {
        let feed = KeyChangeFeed::new(KeyChangeFeedSettings::default());
        let (mine, other) = (ProjectId::new_random(), ProjectId::new_random());
        let mut subscription = feed.subscribe(mine).unwrap();
        let (first, second) = (change(mine), change(mine));
        feed.publish(&[change(other)]);
        feed.publish(&[first, change(other), second]);
        feed.publish(&[]);
        assert_eq!(subscription.next().await, Some(vec![first.id, second.id]));
        let third = change(mine);
        feed.on_key_change(&KeyChangeEvent::Changed(vec![third]));
        assert_eq!(subscription.next().await, Some(vec![third.id]));
    }

    #[tokio::test]
    async fn losing_the_listener_ends_subscriptions_and_refuses_new_ones_until_it_is_back() {
        let feed = KeyChangeFeed::new(KeyChangeFeedSettings::default());
        let project = ProjectId::new_random();
        let mut subscription = feed.subscribe(project).unwrap();
        feed.on_key_change(&KeyChangeEvent::Lost);
        assert_eq!(subscription.next().await, None);
        assert_eq!(
            feed.subscribe(project).unwrap_err(),
            SubscribeError::NotFollowing
        );
        feed.on_key_change(&KeyChangeEvent::Listening);
        let mut again = feed.subscribe(project).unwrap();
        let changed = change(project);
        feed.publish(&[changed]);
        assert_eq!(again.next().await, Some(vec![changed.id]));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_ended_not_left_with_gaps() {
        let feed = KeyChangeFeed::new(settings(10, 2));
        let project = ProjectId::new_random();
        let mut subscription = feed.subscribe(project).unwrap();
        for _ in 0..3 {
            feed.publish(&[change(project)]);
        }
        assert_eq!(subscription.next().await, None);
    }

    #[tokio::test]
    async fn subscriptions_are_capped_and_closing_ends_them_for_good() {
        let feed = KeyChangeFeed::new(settings(2, 8));
        let project = ProjectId::new_random();
        let mut first = feed.subscribe(project).unwrap();
        let second = feed.subscribe(project).unwrap();
        assert_eq!(
            feed.subscribe(project).unwrap_err(),
            SubscribeError::Full(2)
        );
        drop(second);
        assert_eq!(feed.subscribers(), 1);
        let _third = feed.subscribe(project).unwrap();
        feed.close();
        assert_eq!(first.next().await, None);
        assert_eq!(
            feed.subscribe(project).unwrap_err(),
            SubscribeError::NotFollowing
        );
    }
}
