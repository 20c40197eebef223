//! The audit log: who did what, when, with which arguments, and how it ended.

use crate::entities::audit_entry;
use crate::{Store, StoreError};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

impl Store {
    pub async fn record_audit(
        &self,
        actor: &str,
        action: &str,
        arguments: &str,
        outcome: &str,
    ) -> Result<audit_entry::Model, StoreError> {
        let entry = audit_entry::ActiveModel {
            id: NotSet,
            actor: Set(actor.to_owned()),
            action: Set(action.to_owned()),
            arguments: Set(arguments.to_owned()),
            outcome: Set(outcome.to_owned()),
            at: Set(crate::now()),
        };
        Ok(audit_entry::Entity::insert(entry)
            .exec_with_returning(&self.db)
            .await?)
    }

    /// Entries newest first, older than the entry `before` when given.
    pub async fn audit_log(
        &self,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<audit_entry::Model>, StoreError> {
        let mut query = audit_entry::Entity::find()
            .order_by_desc(audit_entry::Column::Id)
            .limit(limit);
        if let Some(before) = before {
            query = query.filter(audit_entry::Column::Id.lt(before));
        }
        Ok(query.all(&self.db).await?)
    }

    pub async fn count_audit_log(&self) -> Result<u64, StoreError> {
        Ok(audit_entry::Entity::find().count(&self.db).await?)
    }
}
