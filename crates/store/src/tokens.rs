//! Operator tokens, stored as SHA-256 hashes only (hashing is the API's business).

use crate::entities::api_token;
use crate::{Store, StoreError};
use sea_orm::EntityTrait;

impl Store {
    /// Stores a token hash under `name`; a conflict when the name is taken (not audited: see
    /// [`crate::operations`]).
    pub async fn add_token(&self, name: &str, token_hash: &str) -> Result<(), StoreError> {
        self.apply_unaudited(crate::operations::CreateToken {
            name: name.to_owned(),
            token_hash: token_hash.to_owned(),
        })
        .await
    }

    /// Revokes the token `name`; false when there is no such active token.
    pub async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let revoke = crate::operations::RevokeToken {
            name: name.to_owned(),
        };
        match self.apply_unaudited(revoke).await {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every token, revoked ones included (the API compares hashes in constant time).
    pub async fn tokens(&self) -> Result<Vec<api_token::Model>, StoreError> {
        Ok(api_token::Entity::find().all(&self.db).await?)
    }
}
