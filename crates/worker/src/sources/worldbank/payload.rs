//! The World Bank's JSON page, read in one pass: `[metadata, rows | null]`, or the API's error
//! payload `[{"message": [...]}]`. Rows are typed as they are read (serde visitors), their text
//! borrowed from the body; an error names where it was found (the metadata, row n).

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

/// A page: its metadata and its rows (`None` for the API's `null`), or the API's error message.
pub(super) enum Payload<'a> {
    Data(Metadata, Option<Vec<Row<'a>>>),
    Error(ApiMessage),
}

/// `[metadata, rows | null]`, or `[{"message": [...]}]`, in one pass over the body: rows are
/// typed as they are read, their text borrowed from the body.
pub(super) fn parse(body: &[u8]) -> Result<Payload<'_>, String> {
    let place = Cell::new(Place::Body);
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = PageSeed { place: &place }
        .deserialize(&mut json)
        .and_then(|payload| json.end().map(|()| payload));
    match parsed {
        Ok(payload) => payload,
        Err(e) => Err(match place.get() {
            Place::Body => e.to_string(),
            Place::Metadata => format!("metadata: {e}"),
            Place::ErrorPayload => format!("error payload: {e}"),
            Place::Row(n) => format!("row {n}: {e}"),
        }),
    }
}

/// Where the parser is, to name it in an error.
#[derive(Clone, Copy)]
enum Place {
    Body,
    Metadata,
    ErrorPayload,
    /// Counted from 1.
    Row(usize),
}

/// The outer list. A list of the wrong shape is reported after it has been read whole, so that
/// the message can say how long it was.
struct PageSeed<'p> {
    place: &'p Cell<Place>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Result<Payload<'de>, String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Result<Payload<'de>, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list: [metadata, rows]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        self.place.set(Place::Metadata);
        let head = seq.next_element_seed(HeadSeed { place: self.place })?;
        self.place.set(Place::Body);
        let mut length = usize::from(head.is_some());
        let mut rows = None;
        if let Some(Head::Metadata(_)) = head {
            rows = seq.next_element_seed(RowsSeed { place: self.place })?;
            self.place.set(Place::Body);
            length += usize::from(rows.is_some());
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {
            length += 1;
        }
        Ok(match (head, length, rows) {
            (Some(Head::Error(messages)), 1, _) => messages
                .into_iter()
                .next()
                .map(Payload::Error)
                .ok_or_else(|| "an error payload without a message".to_owned()),
            (Some(head), 2, rows) => match head {
                Head::Metadata(meta) => Ok(Payload::Data(meta, rows.flatten())),
                Head::Error(_) => Err("metadata: expected the page's metadata, found an error \
                                       message"
                    .to_owned()),
                Head::Other(kind) => Err(format!("metadata: expected an object, found {kind}")),
            },
            (_, length, _) => Err(format!(
                "expected [metadata, rows], found a list of {length} element(s)"
            )),
        })
    }
}

/// The first element: the page's metadata, an error message, or anything else (named by kind).
enum Head {
    Metadata(Metadata),
    Error(Vec<ApiMessage>),
    Other(&'static str),
}

struct HeadSeed<'p> {
    place: &'p Cell<Place>,
}

impl<'de> DeserializeSeed<'de> for HeadSeed<'_> {
    type Value = Head;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Head, D::Error> {
        d.deserialize_any(self)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum HeadField {
    Page,
    Pages,
    Total,
    Lastupdated,
    Message,
    #[serde(other)]
    Other,
}

impl<'de> Visitor<'de> for HeadSeed<'_> {
    type Value = Head;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the page's metadata")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
        let (mut page, mut pages, mut total) = (None, None, None);
        let mut lastupdated: Option<String> = None;
        let mut message: Option<Vec<ApiMessage>> = None;
        while let Some(field) = map.next_key::<HeadField>()? {
            match field {
                HeadField::Page => page = Some(map.next_value::<Count>()?.0),
                HeadField::Pages => pages = Some(map.next_value::<Count>()?.0),
                HeadField::Total => total = Some(map.next_value::<Count>()?.0),
                HeadField::Lastupdated => lastupdated = map.next_value()?,
                HeadField::Message => {
                    self.place.set(Place::ErrorPayload);
                    message = Some(map.next_value()?);
                    self.place.set(Place::Metadata);
                }
                HeadField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(message) = message {
            return Ok(Head::Error(message));
        }
        let narrow = |n: u64| {
            u32::try_from(n).map_err(|_| de::Error::custom(format!("count {n} is too large")))
        };
        Ok(Head::Metadata(Metadata {
            page: narrow(page.ok_or_else(|| de::Error::missing_field("page"))?)?,
            pages: narrow(pages.ok_or_else(|| de::Error::missing_field("pages"))?)?,
            total: total.ok_or_else(|| de::Error::missing_field("total"))?,
            lastupdated,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Head, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Head::Other("a list"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Head, E> {
        Ok(Head::Other("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Head, E> {
        Ok(Head::Other("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Head, E> {
        Ok(Head::Other("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Head, E> {
        Ok(Head::Other("a string"))
    }
}

/// The second element: the rows, or `null` when there are none.
struct RowsSeed<'p> {
    place: &'p Cell<Place>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Row<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Row<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::new();
        loop {
            self.place.set(Place::Row(rows.len() + 1));
            match seq.next_element_seed(RowSeed)? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(Some(rows))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(not_rows("an object"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(not_rows("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(not_rows("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(not_rows("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(not_rows("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(not_rows("a string"))
    }
}

fn not_rows<E: de::Error>(kind: &str) -> E {
    E::custom(format!("rows: expected a list or null, found {kind}"))
}

/// One row, which must be an object: serde alone would also take a list for a struct.
struct RowSeed;

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = Row<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Row<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = Row<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Row<'de>, A::Error> {
        Row::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

#[derive(Debug)]
pub(super) struct Metadata {
    pub(super) page: u32,
    pub(super) pages: u32,
    pub(super) total: u64,
    pub(super) lastupdated: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Row<'a> {
    #[serde(borrow)]
    pub(super) indicator: Named<'a>,
    #[serde(borrow)]
    pub(super) country: Named<'a>,
    #[serde(borrow)]
    pub(super) countryiso3code: Text<'a>,
    #[serde(borrow)]
    pub(super) date: Text<'a>,
    pub(super) value: Option<f64>,
    /// An empty string or null is no status.
    #[serde(default, borrow)]
    pub(super) obs_status: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Named<'a> {
    #[serde(borrow)]
    pub(super) id: Text<'a>,
    #[serde(borrow)]
    pub(super) value: Text<'a>,
}

/// A string of the payload, borrowed from the body unless it had escapes to decode.
#[derive(Debug)]
pub(super) struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        d.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ApiMessage {
    #[serde(deserialize_with = "code")]
    pub(super) id: String,
    pub(super) key: String,
    pub(super) value: String,
}

/// A count the API writes as a number or as a string of digits.
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CountVisitor).map(Count)
    }
}

/// An error id, written as a string ("120") or a number.
fn code<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(d.deserialize_any(CountVisitor)?.to_string())
}

struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer, as a number or a string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_arrive_as_numbers_or_strings() {
        let body = br#"[{"page":"2","pages":3,"per_page":"1000","total":"2001","sourceid":"2","lastupdated":"2025-12-16"},null]"#;
        let Ok(Payload::Data(meta, rows)) = parse(body) else {
            panic!("metadata must parse")
        };
        assert_eq!((meta.page, meta.pages, meta.total), (2, 3, 2001));
        assert!(rows.is_none());
    }

    #[test]
    fn a_negative_or_non_numeric_count_is_refused() {
        for body in [
            br#"[{"page":-1,"pages":1,"total":1,"lastupdated":"x"},null]"#.as_slice(),
            br#"[{"page":"one","pages":1,"total":1,"lastupdated":"x"},null]"#.as_slice(),
        ] {
            assert!(parse(body).is_err());
        }
    }

    const ROW: &str = r#"{"indicator":{"id":"IP.PAT.RESD","value":"Patent applications, residents"},"country":{"id":"US","value":"United States"},"countryiso3code":"USA","date":"2022","value":3.5,"unit":"","obs_status":"P","decimal":0}"#;
    const META: &str = r#"{"page":1,"pages":1,"per_page":50,"total":2,"lastupdated":"2025-12-16"}"#;

    #[test]
    fn rows_are_typed_with_their_text_borrowed_from_the_body() {
        let body = format!("[{META},[{ROW},{ROW}]]");
        let Ok(Payload::Data(meta, Some(rows))) = parse(body.as_bytes()) else {
            panic!("the page must parse")
        };
        assert_eq!((meta.page, meta.pages, meta.total), (1, 1, 2));
        assert_eq!(rows.len(), 2);
        let row = &rows[0];
        assert_eq!(
            (&*row.indicator.id, &*row.countryiso3code, &*row.date),
            ("IP.PAT.RESD", "USA", "2022")
        );
        assert_eq!(
            (&*row.country.id, &*row.country.value),
            ("US", "United States")
        );
        assert_eq!(
            (row.value, row.obs_status.as_deref()),
            (Some(3.5), Some("P"))
        );
        assert!(matches!(row.countryiso3code.0, Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_text_is_decoded() {
        let row = ROW.replace(r#""United States""#, r#""C\u00f4te d'Ivoire \"CI\"""#);
        let body = format!("[{META},[{row}]]");
        let Ok(Payload::Data(_, Some(rows))) = parse(body.as_bytes()) else {
            panic!("the page must parse")
        };
        assert_eq!(&*rows[0].country.value, "C\u{f4}te d'Ivoire \"CI\"");
    }

    #[test]
    fn a_row_that_is_not_an_object_is_refused_with_its_number() {
        let body = format!(r#"[{META},[{ROW},["USA","2022",3.5]]]"#);
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("a list is not a row")
        };
        assert!(problem.starts_with("row 2: "), "{problem}");
    }

    #[test]
    fn a_row_with_a_mistyped_field_is_refused_with_its_number() {
        let row = ROW.replace(r#""value":3.5"#, r#""value":"3.5""#);
        let body = format!("[{META},[{ROW},{ROW},{row}]]");
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("a string is not a value")
        };
        assert!(
            problem.starts_with("row 3: invalid type: string"),
            "{problem}"
        );
    }

    #[test]
    fn rows_that_are_neither_a_list_nor_null_are_refused() {
        let body = format!(r#"[{META},{{"rows":[]}}]"#);
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("an object is not a list of rows")
        };
        assert!(
            problem.contains("rows: expected a list or null, found an object"),
            "{problem}"
        );
    }

    #[test]
    fn metadata_without_its_counts_is_refused() {
        let body = r#"[{"page":1,"pages":1,"lastupdated":"2025-12-16"},null]"#;
        let Err(problem) = parse(body.as_bytes()) else {
            panic!("total is required")
        };
        assert!(
            problem.starts_with("metadata: missing field `total`"),
            "{problem}"
        );
    }

    #[test]
    fn an_error_message_is_recognised_in_any_key_order() {
        let body = br#"[{"message":[{"value":"The indicator was not found.","key":"Invalid format","id":175}]}]"#;
        let Ok(Payload::Error(message)) = parse(body) else {
            panic!("the error payload must be recognised")
        };
        assert_eq!(
            (message.id.as_str(), message.key.as_str()),
            ("175", "Invalid format")
        );
        assert!(matches!(
            parse(br#"[{"message":[]}]"#),
            Err(problem) if problem == "an error payload without a message"
        ));
    }

    #[test]
    fn anything_after_the_list_is_refused() {
        let body = format!("[{META},null] []");
        assert!(parse(body.as_bytes()).is_err());
        assert!(parse(format!("[{META},null,null]").as_bytes())
            .is_err_and(|p| p.contains("found a list of 3 element(s)")));
    }
}
