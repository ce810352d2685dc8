//! The results explorer's row filter: `where=param.x1:gte:2,metric.y:lt:10`,
//! evaluated on the explorer's typed columns and on streamed rows (results
//! downloads, `simforge ui`), never spliced into SQL.

use std::collections::BTreeMap;

use crate::error::{ApiError, ApiResult};

/// Which map a column lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `params`.
    Param,
    /// `metrics`.
    Metric,
}

/// A column of the results: `param.NAME` or `metric.NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Where it lives.
    pub source: Source,
    /// Its name.
    pub name: String,
}

impl Column {
    /// Parses `param.NAME` / `metric.NAME`; `field` names the query field.
    pub fn parse(text: &str, field: &str) -> ApiResult<Column> {
        let (kind, name) = text.split_once('.').unwrap_or(("", ""));
        let source = match kind {
            "param" => Source::Param,
            "metric" => Source::Metric,
            _ => {
                return Err(ApiError::invalid(format!("`{text}` is not a column"))
                    .with_field(field.to_string())
                    .with_hint("columns are `param.NAME` or `metric.NAME`"));
            }
        };
        if name.is_empty() || name.len() > 200 {
            return Err(ApiError::invalid(format!("`{text}` has no column name"))
                .with_field(field.to_string()));
        }
        Ok(Column {
            source,
            name: name.to_string(),
        })
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// `=`.
    Eq,
    /// `<>`.
    Ne,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            _ => return None,
        })
    }
}

/// A compared value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Compared as numbers.
    Number(f64),
    /// Compared as text (`eq`/`ne` only).
    Text(String),
}

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// The column.
    pub column: Column,
    /// The comparison.
    pub op: Op,
    /// The value.
    pub value: Value,
}

/// Parses `where` (conditions separated by commas, all of which must hold).
pub fn parse(text: Option<&str>) -> ApiResult<Vec<Cond>> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(vec![]);
    };
    text.split(',')
        .map(|clause| {
            let bad = |why: &str| {
                ApiError::invalid(format!("`{clause}` in `where`: {why}"))
                    .with_field("where")
                    .with_hint("conditions are COLUMN:OP:VALUE separated by commas, e.g. `param.x1:gte:2,metric.y:lt:10`; OP is gt, gte, lt, lte, eq or ne")
            };
            let mut parts = clause.trim().splitn(3, ':');
            let (Some(col), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("expected COLUMN:OP:VALUE"));
            };
            let column = Column::parse(col, "where")?;
            let op = Op::parse(op).ok_or_else(|| bad("unknown comparison"))?;
            let value = match value.parse::<f64>() {
                Ok(v) if v.is_finite() => Value::Number(v),
                _ if matches!(op, Op::Eq | Op::Ne) => Value::Text(value.to_string()),
                _ => return Err(bad("orders compare numbers")),
            };
            Ok(Cond { column, op, value })
        })
        .collect()
}

impl Cond {
    /// Whether a run with these parameters and metrics meets the condition
    /// (for filtering streamed rows).
    pub fn matches(
        &self,
        params: &BTreeMap<String, serde_json::Value>,
        metrics: &BTreeMap<String, serde_json::Value>,
    ) -> bool {
        let map = match self.column.source {
            Source::Param => params,
            Source::Metric => metrics,
        };
        let Some(v) = map.get(&self.column.name) else {
            return false;
        };
        match &self.value {
            Value::Number(x) => {
                let Some(y) = v.as_f64() else { return false };
                match self.op {
                    Op::Gt => y > *x,
                    Op::Gte => y >= *x,
                    Op::Lt => y < *x,
                    Op::Lte => y <= *x,
                    Op::Eq => y == *x,
                    Op::Ne => y != *x,
                }
            }
            Value::Text(t) => {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match self.op {
                    Op::Ne => text != *t,
                    _ => text == *t,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_into_columns_comparisons_and_values() {
        let c = parse(Some("param.x1:gte:2,metric.y:lt:1e3,param.kind:eq:big")).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[0].column,
            Column {
                source: Source::Param,
                name: "x1".into()
            }
        );
        assert_eq!(c[0].op, Op::Gte);
        assert_eq!(c[1].value, Value::Number(1000.0));
        assert_eq!(c[2].value, Value::Text("big".into()));
        assert!(parse(Some("")).unwrap().is_empty());
    }

    #[test]
    fn rows_are_matched_by_value() {
        let c = parse(Some("param.x1:gte:2,metric.y:lt:10,param.kind:ne:small")).unwrap();
        let map = |v: serde_json::Value| -> BTreeMap<String, serde_json::Value> {
            serde_json::from_value(v).unwrap()
        };
        let (p, m) = (
            map(serde_json::json!({"x1": 2.0, "kind": "big"})),
            map(serde_json::json!({"y": 9.5})),
        );
        assert!(c.iter().all(|c| c.matches(&p, &m)));
        let text = map(serde_json::json!({"y": "n/a"}));
        assert!(!c[1].matches(&p, &text), "text is not a number");
        assert!(
            !c[1].matches(&p, &BTreeMap::new()),
            "a missing value matches nothing"
        );
    }

    #[test]
    fn mistakes_name_the_clause() {
        for bad in [
            "x1:gt:2",
            "param.x1:gt",
            "param.x1:like:2",
            "metric.y:lt:abc",
            "param.:eq:1",
        ] {
            let e = parse(Some(bad)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("where"), "{bad}");
        }
    }
}
