//! Operator tokens, stored as SHA-256 hashes only (hashing is the API's business).

use crate::entities::api_token;
use crate::error::is_unique_violation;
use crate::{Store, StoreError};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter,
};

impl Store {
    /// Stores a token hash under `name`; a conflict when the name is taken.
    pub async fn add_token(&self, name: &str, token_hash: &str) -> Result<(), StoreError> {
        let row = api_token::ActiveModel {
            id: NotSet,
            name: Set(name.to_owned()),
            token_hash: Set(token_hash.to_owned()),
            created_at: Set(crate::now()),
            revoked_at: Set(None),
        };
        match api_token::Entity::insert(row).exec(&self.db).await {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => Err(StoreError::Conflict(format!(
                "a token named \"{name}\" already exists"
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// Revokes the token `name`; false when there is no such active token.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let result = api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, crate::now().into())
            .filter(api_token::Column::Name.eq(name))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Every token, revoked ones included (the API compares hashes in constant time).
    pub async fn tokens(&self) -> Result<Vec<api_token::Model>, StoreError> {
        Ok(api_token::Entity::find().all(&self.db).await?)
    }
}
