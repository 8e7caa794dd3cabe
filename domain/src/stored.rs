//! How the store binds and reads Rateline's words (with the `sqlx` feature): a channel, a
//! status, a scale, a role or an id is kept as its text, bound as that text, and read back
//! through the same parse the API uses, so a row never needs a parse of its own and a
//! corrupt value fails the read naming the type and the text.
//!
//! The impls are generic over the database: they hold wherever text is (SQLite, PostgreSQL,
//! and the `Any` driver the store uses).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::{
    Channel, ClosedBy, Helpdesk, Id, LineId, ManagedBy, NameId, PersonId, RequestId, RequestStatus,
    Role, Scale, SessionId,
};

/// A value kept as its text (`as_str`): typed as text, bound as text.
macro_rules! kept_as_text {
    ($($word:ty),+ $(,)?) => {$(
        impl<DB: Database> Type<DB> for $word
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $word
        where
            String: Encode<'q, DB>,
        {
            fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                self.as_str().to_owned().encode(buf)
            }
        }
    )+};
}

/// A word kept as its name and read back through its `FromStr`, the parse the API uses.
macro_rules! read_by_name {
    ($($word:ty),+ $(,)?) => {$(
        kept_as_text!($word);

        impl<'r, DB: Database> Decode<'r, DB> for $word
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<DB>>::decode(value)?;
                text.parse::<$word>().map_err(|e| {
                    format!(concat!("a stored ", stringify!($word), " {:?}: {}"), text, e).into()
                })
            }
        }
    )+};
}

read_by_name!(
    Channel,
    ClosedBy,
    Helpdesk,
    ManagedBy,
    RequestStatus,
    Role,
    Scale
);

/// An id kept as its text and read back as it is: what the store holds was checked where
/// it came in, so it is not checked again ([`Id::stored`]).
macro_rules! read_as_stored {
    ($($id:ty),+ $(,)?) => {$(
        kept_as_text!($id);

        impl<'r, DB: Database> Decode<'r, DB> for $id
        where
            String: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$id>::stored(<String as Decode<DB>>::decode(value)?))
            }
        }
    )+};
}

read_as_stored!(Id, NameId, SessionId, LineId, PersonId, RequestId);
