//! Webhook endpoints and deliveries on both backends: storing, deduplicating, claiming (never
//! twice at once), recording outcomes and the delivery log.

use super::*;
use crate::testing::insert_project;

fn endpoint(project: ProjectId, at: EpochMillis) -> WebhookEndpointRecord {
    WebhookEndpointRecord {
        id: Uuid::new_v4(),
        project_id: project,
        url: "http://127.0.0.1:9/hook".to_owned(),
        description: "ops".to_owned(),
        event_types: vec![
            "user_api_key.revoked".to_owned(),
            "user_api_key.leaked".to_owned(),
        ],
        disabled: false,
        created_at_millis: at,
    }
}

fn delivery(endpoint: &WebhookEndpointRecord, key: &str, at: EpochMillis) -> WebhookDeliveryRecord {
    WebhookDeliveryRecord {
        id: format!("msg_{}", Uuid::new_v4().simple()),
        project_id: endpoint.project_id,
        endpoint_id: endpoint.id,
        dedupe_key: key.to_owned(),
        event_type: "user_api_key.revoked".to_owned(),
        payload: r#"{"type":"user_api_key.revoked"}"#.to_owned(),
        created_at_millis: at,
        attempts: 0,
        next_attempt_at_millis: at,
        claimed_at_millis: None,
        delivered_at_millis: None,
        failed_at_millis: None,
        last_status: None,
        last_error: None,
    }
}

crate::backend_tests! {
    fn endpoints_round_trip_update_and_delete(db) {
        let mut conn = db.conn();
        let project = insert_project(&mut conn).id;
        let first = endpoint(project, 100);
        let second = WebhookEndpointRecord { event_types: Vec::new(), ..endpoint(project, 200) };
        insert_endpoint(&mut conn, &first).unwrap();
        insert_endpoint(&mut conn, &second).unwrap();
        assert_eq!(list_endpoints(&mut conn, project, 10).unwrap(), vec![first.clone(), second.clone()]);
        assert_eq!(count_endpoints(&mut conn, project).unwrap(), 2);
        let changed = WebhookEndpointRecord { disabled: true, url: "https://example.com/h".into(), ..first.clone() };
        update_endpoint(&mut conn, &changed).unwrap();
        assert_eq!(get_endpoint(&mut conn, project, first.id).unwrap(), Some(changed));
        let other = insert_project(&mut conn).id;
        assert_eq!(get_endpoint(&mut conn, other, first.id).unwrap(), None, "another project's");
        delete_endpoint(&mut conn, project, first.id).unwrap();
        assert!(matches!(delete_endpoint(&mut conn, project, first.id), Err(StorageError::NotFound { .. })));
        assert_eq!(list_endpoints(&mut conn, project, 10).unwrap(), vec![second]);
    }

    fn deliveries_are_deduplicated_claimed_once_and_logged(db) {
        let mut conn = db.conn();
        let project = insert_project(&mut conn).id;
        let hook = endpoint(project, 100);
        insert_endpoint(&mut conn, &hook).unwrap();
        let first = delivery(&hook, "event-1", 100);
        assert!(insert_delivery(&mut conn, &first).unwrap());
        assert!(!insert_delivery(&mut conn, &delivery(&hook, "event-1", 150)).unwrap(), "deduplicated");
        let later = delivery(&hook, "event-2", 300);
        assert!(insert_delivery(&mut conn, &later).unwrap());

        // Only what is due, once: a second claim in the lease finds nothing.
        let claimed = claim_due_deliveries(&mut conn, 200, 1_000, 10).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].delivery.id, first.id);
        assert_eq!(claimed[0].delivery.attempts, 1);
        assert_eq!(claimed[0].url, hook.url);
        assert!(claim_due_deliveries(&mut conn, 500, 1_000, 10).unwrap().iter().all(|c| c.delivery.id != first.id));

        record_delivery_outcome(&mut conn, &first.id, &DeliveryOutcome::RetryAt { at: 2_000, status: Some(500), error: "HTTP 500".into() }, 600).unwrap();
        assert!(claim_due_deliveries(&mut conn, 1_999, 1_000, 10).unwrap().iter().all(|c| c.delivery.id != first.id));
        let again = claim_due_deliveries(&mut conn, 2_000, 1_000, 10).unwrap();
        assert_eq!((again[0].delivery.id.as_str(), again[0].delivery.attempts), (first.id.as_str(), 2));
        record_delivery_outcome(&mut conn, &first.id, &DeliveryOutcome::Delivered { status: 204 }, 2_100).unwrap();
        assert!(claim_due_deliveries(&mut conn, 99_999, 1_000, 10).unwrap().iter().all(|c| c.delivery.id != first.id));

        let log = list_deliveries(&mut conn, project, hook.id, None, 10).unwrap();
        assert_eq!(log.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [later.id.as_str(), first.id.as_str()]);
        let delivered = &log[1];
        assert_eq!((delivered.delivered_at_millis, delivered.last_status, delivered.attempts), (Some(2_100), Some(204), 2));
        let after = DeliveryPosition { created_at_millis: log[0].created_at_millis, id: log[0].id.clone() };
        assert_eq!(list_deliveries(&mut conn, project, hook.id, Some(&after), 10).unwrap().len(), 1);
    }

    fn a_lease_that_runs_out_is_claimed_again_and_disabled_endpoints_wait(db) {
        let mut conn = db.conn();
        let project = insert_project(&mut conn).id;
        let hook = endpoint(project, 100);
        insert_endpoint(&mut conn, &hook).unwrap();
        let queued = delivery(&hook, "event", 100);
        insert_delivery(&mut conn, &queued).unwrap();
        assert_eq!(claim_due_deliveries(&mut conn, 100, 1_000, 10).unwrap().len(), 1);
        // The claiming node stopped: after the lease the delivery is due again (at least once).
        let retried = claim_due_deliveries(&mut conn, 1_100, 1_000, 10).unwrap();
        assert_eq!(retried[0].delivery.attempts, 2);
        record_delivery_outcome(&mut conn, &queued.id, &DeliveryOutcome::RetryAt { at: 1_200, status: None, error: "refused".into() }, 1_150).unwrap();
        update_endpoint(&mut conn, &WebhookEndpointRecord { disabled: true, ..hook.clone() }).unwrap();
        assert!(claim_due_deliveries(&mut conn, 5_000, 1_000, 10).unwrap().is_empty(), "paused");
        update_endpoint(&mut conn, &hook).unwrap();
        assert_eq!(claim_due_deliveries(&mut conn, 5_000, 1_000, 10).unwrap().len(), 1);
    }
}
