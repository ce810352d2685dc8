//! Declarative parameter tables for builtins whose parameters are flat
//! (numbers and choices, each optional), and the reading of a run's
//! [`Params`] against such a table.
//!
//! A builtin lists its parameters once, as [`Spec`]s. The same table gives
//! what it declares ([`Spec::decl`]: what `simforge sim` shows and what a
//! study is checked against before it runs) and how a run's values are
//! checked and completed ([`parse`]), so the declaration and the checks cannot
//! drift apart. Reading rejects what a study could get wrong without noticing:
//! unknown names (a typo would otherwise silently fall back to a default; the
//! error suggests the closest name), values of the wrong kind, values outside
//! the declared bounds, and unknown choices (again with a suggestion). Every
//! problem is a [`SimError::BadParam`] naming the parameter; nothing panics on
//! input.
//!
//! Used by the PDE builtins and `phasefield`. `sysdesign` reads nested
//! topologies, a different job, with its own reader.

use serde_json::{Map, Value};

use crate::{ParamDecl, ParamKind, Params, SimError};

/// Kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A real number (any JSON number).
    Real,
    /// A whole number: a JSON integer, or a float with no fractional part
    /// (`2.0`, as samplers of integer ranges may write it). A parameter
    /// bounded by `[0, 1]` also takes `false` and `true` for 0 and 1.
    Integer,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
}

/// Value of a parameter the run does not give. Every parameter of a table is
/// optional, so each has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DefaultValue {
    /// A number, declared as `(default 5)`.
    Num(f64),
    /// A choice, declared as `(default pfhub1)`.
    Text(&'static str),
    /// Computed by the simulator at run time by the rule described in words;
    /// declared as `(default: <rule>)`, and reported as `"auto"` by
    /// [`Values::to_json`].
    Auto(&'static str),
    /// Computed by the simulator from other parameters by the formula given;
    /// declared as `(default <formula>)`. Read like [`DefaultValue::Auto`];
    /// only the declaration's wording differs.
    Derived(&'static str),
}

/// Declaration of one parameter: what [`ParamDecl`] says, plus its default.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    /// Name in the study file.
    pub name: &'static str,
    /// Meaning; [`Spec::decl`] appends the default (and "must be > 0").
    pub description: &'static str,
    /// Unit, if any.
    pub unit: Option<&'static str>,
    /// Inclusive bounds of numbers (`None` for choices).
    pub bounds: Option<(f64, f64)>,
    /// Whether the lower bound, 0, is excluded: the domain is `(0, high]`.
    pub positive: bool,
    /// Value kind.
    pub kind: Kind,
    /// Value when the run does not give one.
    pub default: DefaultValue,
}

impl Spec {
    /// A real parameter in `[bounds.0, bounds.1]`, `default` when absent.
    pub fn real(
        name: &'static str,
        default: f64,
        unit: Option<&'static str>,
        bounds: (f64, f64),
        description: &'static str,
    ) -> Spec {
        Spec {
            name,
            description,
            unit,
            bounds: Some(bounds),
            positive: false,
            kind: Kind::Real,
            default: DefaultValue::Num(default),
        }
    }

    /// A real parameter that must be strictly positive, in `(0, high]`.
    pub fn positive(
        name: &'static str,
        default: f64,
        unit: Option<&'static str>,
        high: f64,
        description: &'static str,
    ) -> Spec {
        Spec {
            positive: true,
            ..Spec::real(name, default, unit, (0.0, high), description)
        }
    }

    /// A whole-number parameter in `[bounds.0, bounds.1]`, `default` when
    /// absent (see [`Kind::Integer`] for what it accepts).
    pub fn integer(
        name: &'static str,
        default: f64,
        unit: Option<&'static str>,
        bounds: (f64, f64),
        description: &'static str,
    ) -> Spec {
        Spec {
            kind: Kind::Integer,
            ..Spec::real(name, default, unit, bounds, description)
        }
    }

    /// A parameter taking one of `choices`, `default` when absent.
    pub fn choice(
        name: &'static str,
        default: &'static str,
        choices: &'static [&'static str],
        description: &'static str,
    ) -> Spec {
        Spec {
            name,
            description,
            unit: None,
            bounds: None,
            positive: false,
            kind: Kind::Choice(choices),
            default: DefaultValue::Text(default),
        }
    }

    /// Replaces the default by a rule the simulator applies at run time,
    /// described in words ([`DefaultValue::Auto`]).
    pub fn auto(self, rule: &'static str) -> Spec {
        Spec {
            default: DefaultValue::Auto(rule),
            ..self
        }
    }

    /// Replaces the default by a formula in other parameters that the
    /// simulator applies at run time ([`DefaultValue::Derived`]).
    pub fn derived(self, formula: &'static str) -> Spec {
        Spec {
            default: DefaultValue::Derived(formula),
            ..self
        }
    }

    /// The public declaration: the description followed by the default in
    /// parentheses, so users see the default wherever parameters are listed.
    pub fn decl(&self) -> ParamDecl {
        let default = match self.default {
            DefaultValue::Num(v) => format!("default {v}"),
            DefaultValue::Text(s) => format!("default {s}"),
            DefaultValue::Auto(rule) => format!("default: {rule}"),
            DefaultValue::Derived(formula) => format!("default {formula}"),
        };
        let positive = if self.positive { "; must be > 0" } else { "" };
        ParamDecl {
            name: self.name.to_string(),
            description: format!("{} ({default}{positive})", self.description),
            unit: self.unit.map(str::to_string),
            bounds: self.bounds,
            kind: match self.kind {
                Kind::Real => ParamKind::Real,
                Kind::Integer => ParamKind::Integer,
                Kind::Choice(c) => ParamKind::Choice(c.iter().map(|s| s.to_string()).collect()),
            },
            required: false,
        }
    }
}

/// How strictly [`parse`] holds real numbers to their bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slack {
    /// Exactly: for tables whose bounds guard a singularity (a lower bound of
    /// 1e-9 meaning "positive" must not admit −1e-3).
    Exact,
    /// Up to 1e-12 of the bounds' width (at least 1e-12) past either bound:
    /// the slack simforge-exec allows when it checks a study's ranges against
    /// the declared bounds, so that a value sampled at the end of such a range
    /// and pushed past a bound by rounding still runs. A positive parameter
    /// still refuses 0 and below. Whole numbers are always held exactly.
    Rounding,
}

/// One parameter's value in [`Values`].
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    /// A number, given or defaulted.
    Num(f64),
    /// A choice, given or defaulted.
    Text(&'static str),
    /// Not given, with a default the simulator computes.
    Computed,
}

/// Parameter values of one run after [`parse`]: every declared parameter,
/// checked, with defaults filled in, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Values {
    slots: Vec<(&'static str, Slot)>,
}

/// A [`SimError::BadParam`]: `param` is wrong; `message` says how and what
/// was expected.
pub(crate) fn bad_param(param: &str, message: impl Into<String>) -> SimError {
    SimError::BadParam {
        param: param.to_string(),
        message: message.into(),
    }
}

/// A simulator asked [`Values`] for a parameter the wrong way: a bug in the
/// simulator, not in the study, so a [`SimError::Failed`] rather than a panic.
fn internal(name: &str, problem: &str) -> SimError {
    SimError::Failed(format!("internal error: parameter `{name}` {problem}"))
}

/// Largest number of edits between a misspelt name and a suggestion.
const SUGGEST_DISTANCE: usize = 3;

/// `"; did you mean `k`?"` for the entry of `known` closest to `name` when it
/// is within a few edits (a typo) and not a complete rewrite of a short name;
/// else nothing. Appended to error messages about unknown names.
pub(crate) fn did_you_mean<S: AsRef<str>>(
    name: &str,
    known: impl IntoIterator<Item = S>,
) -> String {
    known
        .into_iter()
        .map(|k| {
            let k = k.as_ref().to_string();
            (strsim::levenshtein(name, &k), k)
        })
        .filter(|(d, k)| *d <= SUGGEST_DISTANCE && *d < k.chars().count().max(name.chars().count()))
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

impl Values {
    /// The slot of `name`.
    fn slot(&self, name: &str) -> Result<&Slot, SimError> {
        self.slots
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
            .ok_or_else(|| internal(name, "is not declared"))
    }

    /// A numeric parameter with a fixed default (for computed defaults use
    /// [`Values::auto`]).
    pub fn num(&self, name: &str) -> Result<f64, SimError> {
        match self.slot(name)? {
            Slot::Num(x) => Ok(*x),
            Slot::Computed => Err(internal(
                name,
                "has a computed default; read it with Values::auto",
            )),
            Slot::Text(_) => Err(internal(name, "is a choice; read it with Values::text")),
        }
    }

    /// A whole-number parameter as a count (its bounds keep it non-negative
    /// in every table that reads one this way).
    pub fn count(&self, name: &str) -> Result<usize, SimError> {
        Ok(self.num(name)? as usize)
    }

    /// A `[0, 1]` whole-number parameter as a switch: true when 1.
    pub fn flag(&self, name: &str) -> Result<bool, SimError> {
        Ok(self.num(name)? == 1.0)
    }

    /// A numeric parameter whose default is computed: `None` when the run
    /// does not give it.
    pub fn auto(&self, name: &str) -> Result<Option<f64>, SimError> {
        match self.slot(name)? {
            Slot::Num(x) => Ok(Some(*x)),
            Slot::Computed => Ok(None),
            Slot::Text(_) => Err(internal(name, "is a choice; read it with Values::text")),
        }
    }

    /// A choice parameter, as the declared string.
    pub fn text(&self, name: &str) -> Result<&'static str, SimError> {
        match self.slot(name)? {
            Slot::Text(s) => Ok(s),
            _ => Err(internal(name, "is a number; read it with Values::num")),
        }
    }

    /// Every value as JSON, in declaration order (numbers as floats, computed
    /// defaults as `"auto"`): the parameters a run used, for its records.
    pub fn to_json(&self) -> Map<String, Value> {
        self.slots
            .iter()
            .map(|(name, slot)| {
                let v = match slot {
                    Slot::Num(x) => {
                        serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number)
                    }
                    Slot::Text(s) => Value::String(s.to_string()),
                    Slot::Computed => Value::String("auto".into()),
                };
                (name.to_string(), v)
            })
            .collect()
    }
}

/// Checks `params` against `specs` and fills in defaults. `owner` names the
/// simulator in the message about an unknown parameter; `slack` says how
/// strictly reals are held to their bounds. Names not declared are errors (a
/// typo would otherwise silently fall back to a default), reported before any
/// value is checked; then each value is checked in declaration order and the
/// first problem is returned.
pub(crate) fn parse(
    owner: &str,
    specs: &[Spec],
    params: &Params,
    slack: Slack,
) -> Result<Values, SimError> {
    let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
    if let Some(name) = params.keys().find(|n| !known.contains(&n.as_str())) {
        return Err(bad_param(
            name,
            format!(
                "unknown parameter of {owner}; known: {}{}",
                known.join(", "),
                did_you_mean(name, &known)
            ),
        ));
    }
    let slots = specs
        .iter()
        .map(|spec| {
            let slot = match params.get(spec.name) {
                Some(value) => read(spec, value, slack)?,
                None => match spec.default {
                    DefaultValue::Num(x) => Slot::Num(x),
                    DefaultValue::Text(s) => Slot::Text(s),
                    DefaultValue::Auto(_) | DefaultValue::Derived(_) => Slot::Computed,
                },
            };
            Ok((spec.name, slot))
        })
        .collect::<Result<_, SimError>>()?;
    Ok(Values { slots })
}

/// Checks one given value against its spec.
fn read(spec: &Spec, value: &Value, slack: Slack) -> Result<Slot, SimError> {
    let name = spec.name;
    let x = match spec.kind {
        Kind::Choice(choices) => return choice(name, choices, value).map(Slot::Text),
        Kind::Real => value
            .as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| bad_param(name, format!("expected a finite number, found {value}")))?,
        Kind::Integer => match value {
            Value::Bool(b) if spec.bounds == Some((0.0, 1.0)) => f64::from(u8::from(*b)),
            _ => value
                .as_f64()
                .filter(|x| x.is_finite() && x.fract() == 0.0)
                .ok_or_else(|| {
                    bad_param(name, format!("expected a whole number, found {value}"))
                })?,
        },
    };
    if let Some((lo, hi)) = spec.bounds {
        let tol = match (slack, spec.kind) {
            (Slack::Rounding, Kind::Real) => 1e-12 * (hi - lo).abs().max(1.0),
            _ => 0.0,
        };
        if x < lo - tol || x > hi + tol || (spec.positive && x <= 0.0) {
            let domain = if spec.positive {
                format!("({lo}, {hi}]")
            } else {
                format!("[{lo}, {hi}]")
            };
            return Err(bad_param(
                name,
                format!("{value} is outside the domain {domain}"),
            ));
        }
    }
    Ok(Slot::Num(x))
}

/// The entry of `choices` that `value` names.
fn choice(
    name: &str,
    choices: &'static [&'static str],
    value: &Value,
) -> Result<&'static str, SimError> {
    let expected = choices.join(", ");
    match value {
        Value::String(s) => choices
            .iter()
            .find(|c| **c == s.as_str())
            .copied()
            .ok_or_else(|| {
                bad_param(
                    name,
                    format!(
                        "unknown value `{s}`; expected one of {expected}{}",
                        did_you_mean(s, choices)
                    ),
                )
            }),
        other => Err(bad_param(
            name,
            format!("expected one of {expected}, found {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn specs() -> Vec<Spec> {
        vec![
            Spec::real("x", 0.5, Some("L"), (0.0, 1.0), "a real"),
            Spec::positive("rate", 2.0, Some("1/T"), 10.0, "a positive real"),
            Spec::integer("n", 8.0, None, (2.0, 64.0), "a count"),
            Spec::integer("on", 1.0, None, (0.0, 1.0), "a switch"),
            Spec::choice("shape", "disc", &["disc", "square"], "a choice"),
            Spec::positive("dt", 0.0, Some("T"), 1.0, "a step").auto("from the grid"),
            Spec::real("r", 0.0, None, (0.0, 10.0), "a radius").derived("L/4"),
        ]
    }

    fn params(v: Value) -> Params {
        v.as_object().unwrap().clone().into_iter().collect()
    }

    fn parse_exact(v: Value) -> Result<Values, SimError> {
        parse("test", &specs(), &params(v), Slack::Exact)
    }

    /// The (param, message) of a `BadParam`.
    fn bad(r: Result<Values, SimError>) -> (String, String) {
        match r {
            Err(SimError::BadParam { param, message }) => (param, message),
            other => panic!("expected BadParam, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let v = parse_exact(json!({})).unwrap();
        assert_eq!(v.num("x").unwrap(), 0.5);
        assert_eq!(v.count("n").unwrap(), 8);
        assert!(v.flag("on").unwrap());
        assert_eq!(v.text("shape").unwrap(), "disc");
        assert_eq!(v.auto("dt").unwrap(), None);
        assert_eq!(v.auto("r").unwrap(), None);
        assert_eq!(v.auto("x").unwrap(), Some(0.5));
        let j = Value::Object(v.to_json());
        assert_eq!(
            j,
            json!({"x": 0.5, "rate": 2.0, "n": 8.0, "on": 1.0, "shape": "disc",
                   "dt": "auto", "r": "auto"})
        );
        let order: Vec<String> = v.to_json().keys().cloned().collect();
        assert_eq!(order, ["x", "rate", "n", "on", "shape", "dt", "r"]);
    }

    #[test]
    fn given_values_are_read() {
        let v = parse_exact(json!({"x": 1, "n": 16.0, "on": false, "shape": "square",
                                   "dt": 0.1, "r": 3}))
        .unwrap();
        assert_eq!(v.num("x").unwrap(), 1.0);
        assert_eq!(v.count("n").unwrap(), 16);
        assert!(!v.flag("on").unwrap());
        assert_eq!(v.text("shape").unwrap(), "square");
        assert_eq!(v.auto("dt").unwrap(), Some(0.1));
        assert_eq!(v.auto("r").unwrap(), Some(3.0));
        let on = parse_exact(json!({"on": true})).unwrap();
        assert!(on.flag("on").unwrap());
    }

    #[test]
    fn unknown_names_are_rejected_with_a_suggestion() {
        let (p, m) = bad(parse_exact(json!({"shpae": "disc"})));
        assert_eq!(p, "shpae");
        assert!(
            m.starts_with("unknown parameter of test; known: x, rate, n"),
            "{m}"
        );
        assert!(m.ends_with("; did you mean `shape`?"), "{m}");
        // Nothing close: no suggestion, and a short name is not "corrected"
        // into an unrelated one.
        let (_, m) = bad(parse_exact(json!({"temperature": 1})));
        assert!(!m.contains("did you mean"), "{m}");
        let (_, m) = bad(parse_exact(json!({"q": 1})));
        assert!(!m.contains("did you mean"), "{m}");
        // Unknown names are reported before bad values.
        let (p, _) = bad(parse_exact(json!({"x": "bad", "zz": 1})));
        assert_eq!(p, "zz");
    }

    #[test]
    fn kinds_are_checked() {
        let (p, m) = bad(parse_exact(json!({"x": "0.5"})));
        assert_eq!(
            (p.as_str(), m.as_str()),
            ("x", "expected a finite number, found \"0.5\"")
        );
        let (_, m) = bad(parse_exact(json!({"x": true})));
        assert!(m.contains("finite number"), "{m}");
        let (_, m) = bad(parse_exact(json!({"x": null})));
        assert!(m.contains("finite number"), "{m}");
        let (p, m) = bad(parse_exact(json!({"n": 2.5})));
        assert_eq!(
            (p.as_str(), m.as_str()),
            ("n", "expected a whole number, found 2.5")
        );
        let (_, m) = bad(parse_exact(json!({"n": "4"})));
        assert!(m.contains("whole number"), "{m}");
        // Booleans only stand for 0/1 in a [0, 1] integer.
        let (_, m) = bad(parse_exact(json!({"n": true})));
        assert!(m.contains("whole number"), "{m}");
    }

    #[test]
    fn bounds_are_checked() {
        let (p, m) = bad(parse_exact(json!({"x": 1.5})));
        assert_eq!(
            (p.as_str(), m.as_str()),
            ("x", "1.5 is outside the domain [0, 1]")
        );
        let (_, m) = bad(parse_exact(json!({"n": 65})));
        assert_eq!(m, "65 is outside the domain [2, 64]");
        let (_, m) = bad(parse_exact(json!({"on": 2})));
        assert!(m.contains("outside"), "{m}");
        // Positive parameters exclude 0 and say so.
        let (p, m) = bad(parse_exact(json!({"rate": 0})));
        assert_eq!(
            (p.as_str(), m.as_str()),
            ("rate", "0 is outside the domain (0, 10]")
        );
        let (_, m) = bad(parse_exact(json!({"dt": -1e-30})));
        assert!(m.contains("(0, 1]"), "{m}");
        // Huge numbers are out of bounds, not a panic or a wrap-around.
        let (_, m) = bad(parse_exact(json!({"n": 1e300})));
        assert!(m.contains("outside"), "{m}");
        // Bounds themselves are inside.
        let v = parse_exact(json!({"x": 0, "rate": 10, "n": 64})).unwrap();
        assert_eq!(v.count("n").unwrap(), 64);
    }

    #[test]
    fn rounding_slack_admits_only_rounding_past_real_bounds() {
        let rounding = |v: Value| parse("test", &specs(), &params(v), Slack::Rounding);
        let v = rounding(json!({"x": 1.0 + 1e-13, "r": -1e-12})).unwrap();
        assert_eq!(v.num("x").unwrap(), 1.0 + 1e-13);
        assert!(parse_exact(json!({"x": 1.0 + 1e-13})).is_err());
        assert!(rounding(json!({"x": 1.0 + 1e-9})).is_err());
        // Positive reals still refuse 0; integers are exact.
        assert!(rounding(json!({"rate": 0.0})).is_err());
        assert!(rounding(json!({"dt": -1e-15})).is_err());
        assert!(rounding(json!({"n": 65})).is_err());
    }

    #[test]
    fn choices_are_checked_with_a_suggestion() {
        let (p, m) = bad(parse_exact(json!({"shape": "squar"})));
        assert_eq!(p, "shape");
        assert_eq!(
            m,
            "unknown value `squar`; expected one of disc, square; did you mean `square`?"
        );
        let (_, m) = bad(parse_exact(json!({"shape": "hexagon"})));
        assert_eq!(m, "unknown value `hexagon`; expected one of disc, square");
        let (_, m) = bad(parse_exact(json!({"shape": 1})));
        assert_eq!(m, "expected one of disc, square, found 1");
    }

    #[test]
    fn misreading_a_value_is_an_internal_error_not_a_panic() {
        let v = parse_exact(json!({})).unwrap();
        for e in [
            v.num("nope").unwrap_err(),
            v.num("dt").unwrap_err(),
            v.num("shape").unwrap_err(),
            v.text("x").unwrap_err(),
            v.auto("shape").unwrap_err(),
        ] {
            assert!(
                matches!(&e, SimError::Failed(m) if m.starts_with("internal error")),
                "{e:?}"
            );
        }
    }

    #[test]
    fn declarations_state_defaults_bounds_and_kinds() {
        let d: Vec<ParamDecl> = specs().iter().map(Spec::decl).collect();
        assert_eq!(d[0].description, "a real (default 0.5)");
        assert_eq!(d[0].unit.as_deref(), Some("L"));
        assert_eq!(d[0].bounds, Some((0.0, 1.0)));
        assert_eq!(d[0].kind, ParamKind::Real);
        assert_eq!(d[1].description, "a positive real (default 2; must be > 0)");
        assert_eq!(d[1].bounds, Some((0.0, 10.0)));
        assert_eq!(d[2].kind, ParamKind::Integer);
        assert_eq!(d[4].description, "a choice (default disc)");
        assert_eq!(
            d[4].kind,
            ParamKind::Choice(vec!["disc".into(), "square".into()])
        );
        assert_eq!(d[4].bounds, None);
        assert_eq!(
            d[5].description,
            "a step (default: from the grid; must be > 0)"
        );
        assert_eq!(d[6].description, "a radius (default L/4)");
        assert!(d.iter().all(|d| !d.required));
    }

    #[test]
    fn suggestions_pick_the_closest_name() {
        let known = ["kappa", "rho", "M"];
        assert_eq!(did_you_mean("kapa", known), "; did you mean `kappa`?");
        assert_eq!(did_you_mean("rh", known), "; did you mean `rho`?");
        assert_eq!(did_you_mean("x", known), "");
        assert_eq!(did_you_mean("", &[] as &[&str]), "");
    }
}
