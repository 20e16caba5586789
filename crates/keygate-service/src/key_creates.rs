//! Storing new keys: creates that arrive together are committed together.
//!
//! **Key decision:** under load, a create does not get a transaction of its own. It waits in one
//! [`BatchQueue`]; at most [`BatchSettings::max_concurrent`] runners (blocking tasks, each with a
//! pooled connection) take every waiting create, up to [`BatchSettings::max_batch`], and store
//! them in one transaction: per project, the owners' rows locked (and their key counts read)
//! with one statement, the keys and their audit events inserted with one statement each, and one
//! commit for all. On Postgres that is six round trips for the batch instead of six for each
//! create, and one WAL flush.
//!
//! Each create's rules are still its own: an owner that is not in the project, or that already
//! holds [`Limits::max_keys_per_owner`](crate::Limits) keys, refuses that create only, decided in
//! the order the creates arrived, exactly as one transaction each would have decided. When the
//! shared transaction fails (a conflict, a lost connection), none of it is stored and each
//! create runs again in a transaction of its own, so one create's failure never becomes
//! another's. A create that arrives alone is stored at once, alone: nothing waits for a batch to
//! fill.

use std::collections::BTreeSet;

use keygate_domain::{ApiKey, ProjectId};
use keygate_storage::repo::api_keys;
use keygate_storage::{DbConnection, StorageError};
use tokio::sync::oneshot;

use crate::api_keys::{
    insert_within_cap, key_change, lock_key_counts, owner_not_found, within_cap,
};
use crate::audit::{self, AuditActor, KeyEvent};
use crate::batch_queue::BatchQueue;
#[cfg(doc)]
use crate::batch_queue::BatchSettings;
use crate::error::ServiceError;
use crate::service::Service;

/// A create waiting to be stored: the key, its owner's cap, who creates it, and where the
/// outcome goes.
pub(crate) struct NewKey {
    key: ApiKey,
    limit: u64,
    actor: AuditActor,
    answer: oneshot::Sender<Result<(), ServiceError>>,
}

/// The waiting creates.
pub(crate) type KeyCreates = BatchQueue<NewKey>;

impl Service {
    /// Stores `key` unless its owner already has `limit` keys, and records its creation by
    /// `actor` in the audit log, in one transaction with the creates that arrive with it.
    pub(crate) async fn store_new_key(
        &self,
        key: ApiKey,
        limit: u64,
        actor: AuditActor,
    ) -> Result<(), ServiceError> {
        let (answer, answered) = oneshot::channel();
        let service = self.clone();
        let create = NewKey {
            key,
            limit,
            actor,
            answer,
        };
        self.key_creates()
            .submit(create, move |batch| service.store_new_keys(batch));
        answered.await.unwrap_or_else(|_| {
            Err(ServiceError::Internal(
                "the create stopped without an answer".to_owned(),
            ))
        })
    }

    /// Stores one batch of creates and answers each.
    fn store_new_keys(&self, batch: Vec<NewKey>) {
        let alone = |create: &NewKey| {
            self.database().with_connection(|conn| {
                insert_within_cap(conn, &create.key, create.limit, &create.actor)
            })
        };
        let outcomes: Vec<Result<(), ServiceError>> = if let [create] = batch.as_slice() {
            vec![alone(create)]
        } else {
            match self
                .database()
                .with_connection(|conn| insert_all_within_caps(conn, &batch))
            {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    tracing::warn!(
                        %error,
                        creates = batch.len(),
                        "creates committed together failed; each runs alone"
                    );
                    batch.iter().map(alone).collect()
                }
            }
        };
        for (create, outcome) in batch.into_iter().zip(outcomes) {
            // A check may have guessed the new id just before and cached it as unknown.
            self.check_cache().created(create.key.id);
            // A create whose client went away is not told; its key is stored all the same.
            let _ = create.answer.send(outcome);
        }
    }
}

/// Stores `creates` in one transaction, each unless its owner is missing or at its cap (counting
/// the batch's earlier creates), and returns each one's outcome in order. `Err` when the
/// transaction failed: then nothing was stored.
fn insert_all_within_caps(
    conn: &mut DbConnection,
    creates: &[NewKey],
) -> Result<Vec<Result<(), ServiceError>>, StorageError> {
    conn.in_transaction_with(|conn| {
        let mut outcomes: Vec<Option<Result<(), ServiceError>>> =
            creates.iter().map(|_| None).collect();
        let projects: BTreeSet<ProjectId> =
            creates.iter().map(|create| create.key.project_id).collect();
        // Projects in order, and within one the users before the teams, each in id order: two
        // batches lock rows in the same order and never deadlock.
        for project in projects {
            let of_project: Vec<(usize, &NewKey)> = creates
                .iter()
                .enumerate()
                .filter(|(_, create)| create.key.project_id == project)
                .collect();
            let mut counts =
                lock_key_counts(conn, project, of_project.iter().map(|(_, c)| c.key.owner))?;
            let mut stored = Vec::new();
            for (index, create) in of_project {
                let owner = create.key.owner;
                outcomes[index] = Some(match counts.get_mut(&owner) {
                    Some(count) => within_cap(*count, create.limit).inspect(|()| {
                        *count += 1;
                        stored.push(create);
                    }),
                    None => Err(owner_not_found(owner)),
                });
            }
            if stored.is_empty() {
                continue;
            }
            let keys: Vec<&ApiKey> = stored.iter().map(|create| &create.key).collect();
            api_keys::insert_many(conn, &keys)?;
            audit::record_many(
                conn,
                project,
                stored.iter().map(|create| {
                    (
                        &create.actor,
                        key_change(&create.key, KeyEvent::Created),
                        create.key.created_at_millis,
                    )
                }),
            )?;
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.expect("every create is of one of the batch's projects"))
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keygate_domain::{ApiKeyId, KeyHasher, Owner};
    use keygate_storage::testing::{insert_project, insert_user, random_hash};
    use keygate_storage::StorageError;

    use super::*;
    use crate::error::Refusal;

    const NOW: i64 = 1_700_000_000_000;

    fn new_key(project: ProjectId, owner: Owner, id: ApiKeyId) -> ApiKey {
        ApiKey {
            id,
            project_id: project,
            owner,
            description: "batched".to_owned(),
            is_public: false,
            hash: random_hash(),
            last_four: "53a0".to_owned(),
            created_at_millis: NOW,
            expires_at_millis: None,
            manually_revoked_at_millis: None,
            policy: Default::default(),
        }
    }

    fn create(key: ApiKey) -> (NewKey, oneshot::Receiver<Result<(), ServiceError>>) {
        let (answer, answered) = oneshot::channel();
        let create = NewKey {
            key,
            limit: 10,
            actor: AuditActor::system("test"),
            answer,
        };
        (create, answered)
    }

    keygate_storage::backend_tests! {
        fn a_batch_whose_transaction_fails_runs_each_create_alone(db) {
            let service = Service::new(db.database().clone(), KeyHasher::sha256(), Arc::new(|| NOW));
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let owner = Owner::User(insert_user(&mut conn, project).id);
            // Two creates of one id: the shared insert fails on the duplicate and stores
            // nothing; alone, the first is stored and only the second fails.
            let id = ApiKeyId::new_random();
            let (first, first_answer) = create(new_key(project, owner, id));
            let (second, second_answer) = create(new_key(project, owner, id));
            let (third, third_answer) = create(new_key(project, owner, ApiKeyId::new_random()));
            let third_id = third.key.id;
            service.store_new_keys(vec![first, second, third]);
            assert!(matches!(first_answer.blocking_recv().unwrap(), Ok(())));
            assert!(matches!(
                second_answer.blocking_recv().unwrap(),
                Err(ServiceError::Storage(StorageError::AlreadyExists { .. }))
            ));
            assert!(matches!(third_answer.blocking_recv().unwrap(), Ok(())));
            let stored = api_keys::get_many_by_id(&mut conn, &[id, third_id]).unwrap();
            assert_eq!(stored.len(), 2);
            assert_eq!(api_keys::count_for_owner(&mut conn, project, owner).unwrap(), 2);
        }

        fn a_batch_stores_each_create_within_its_owners_cap(db) {
            let service = Service::new(db.database().clone(), KeyHasher::sha256(), Arc::new(|| NOW));
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let capped = Owner::User(insert_user(&mut conn, project).id);
            let other = Owner::User(insert_user(&mut conn, project).id);
            let missing = Owner::User(keygate_domain::UserId::new_random());
            let mut batch = Vec::new();
            let mut answers = Vec::new();
            for owner in [capped, other, capped, missing, capped] {
                let (mut new, answered) = create(new_key(project, owner, ApiKeyId::new_random()));
                new.limit = 2;
                batch.push(new);
                answers.push(answered);
            }
            service.store_new_keys(batch);
            let outcomes: Vec<String> = answers
                .into_iter()
                .map(|answered| match answered.blocking_recv().unwrap() {
                    Ok(()) => "stored".to_owned(),
                    Err(ServiceError::Refused(Refusal::ApiKeyLimitReached { limit })) => format!("cap {limit}"),
                    Err(ServiceError::NotFound(_)) => "not found".to_owned(),
                    Err(other) => format!("{other:?}"),
                })
                .collect();
            assert_eq!(outcomes, ["stored", "stored", "stored", "not found", "cap 2"]);
            assert_eq!(api_keys::count_for_owner(&mut conn, project, capped).unwrap(), 2);
            assert_eq!(api_keys::count_for_owner(&mut conn, project, other).unwrap(), 1);
        }
    }
}
