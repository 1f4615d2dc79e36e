//! An access policy's `conditions: - if: "{ ... }"`: a small expression
//! language over security-context values and literals, parsed once when the
//! model loads. Cube.js evaluates these as JavaScript, and a condition it
//! cannot evaluate denies silently; here a condition that does not parse, or
//! that compares literals of different types, is a model error.
//!
//! Grammar (JavaScript spellings accepted beside the words):
//! `or` (`||`), `and` (`&&`), `not` (`!`), `==` (`===`), `!=` (`!==`), `<`,
//! `<=`, `>`, `>=`, `in`, `not in`, parentheses; operands are
//! `securityContext.<path>` (also `security_context`, `SECURITY_CONTEXT`),
//! strings in single or double quotes, numbers, `true`, `false`, `null` and
//! lists `[...]` of literals.
//!
//! Evaluation is three-valued: a missing context value, or values of
//! different types compared, make the comparison unknown, and a condition
//! holds only when it is true. So a missing claim never satisfies `!=`, and
//! `not` of an unknown stays unknown: a missing claim fails closed.

use std::fmt;

use serde_json::Value;

use crate::auth::{Resolved, SecurityContext};
use crate::context_path::ContextPath;

/// A parsed condition, with its source text for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub text: String,
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Context(ContextPath),
    Literal(Value),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    In { negated: bool, item: Box<Expr>, list: Box<Expr> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// Why a condition did not hold (for `explain` and the audit line).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    True,
    False,
    /// Neither: a missing value or a type mismatch, named.
    Unknown(String),
}

impl Condition {
    /// Parse `{ expr }`, `${ expr }` or a bare `expr`.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t = text.trim();
        let inner = t.strip_prefix("${").or_else(|| t.strip_prefix('{')).and_then(|r| r.strip_suffix('}')).unwrap_or(t);
        let tokens = lex(inner).map_err(|e| format!("{e} in condition {text:?}"))?;
        let mut p = Parser { tokens, pos: 0 };
        let expr = p.or().map_err(|e| format!("{e} in condition {text:?}"))?;
        if let Some(tok) = p.tokens.get(p.pos) {
            return Err(format!("unexpected {tok} in condition {text:?}"));
        }
        check(&expr).map_err(|e| format!("{e} in condition {text:?}"))?;
        match &expr {
            Expr::Literal(Value::Bool(_)) => {
                return Err(format!("condition {text:?} is a constant; compare a securityContext value"));
            }
            Expr::Literal(v) => {
                return Err(format!("{} where a boolean is needed in condition {text:?}", kind(v)));
            }
            _ => {}
        }
        Ok(Condition { text: text.to_string(), expr })
    }

    pub fn eval(&self, ctx: &SecurityContext) -> Outcome {
        match truth(&self.expr, ctx) {
            Tri::True => Outcome::True,
            Tri::False => Outcome::False,
            Tri::Unknown(why) => Outcome::Unknown(why),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "{s:?}"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Num(n) => write!(f, "number {n}"),
            Tok::Op(o) => write!(f, "{o:?}"),
        }
    }
}

const MAX_CONDITION_BYTES: usize = 4096;

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    if s.len() > MAX_CONDITION_BYTES {
        return Err(format!("a condition may be {MAX_CONDITION_BYTES} bytes at most"));
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    const OPS: [&str; 17] =
        ["===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ",", "."];
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let mut j = i + 1;
            let mut lit = String::new();
            while j < chars.len() && chars[j] != c {
                if chars[j] == '\\' && j + 1 < chars.len() {
                    j += 1;
                }
                lit.push(chars[j]);
                j += 1;
            }
            if j >= chars.len() {
                return Err("unterminated string".into());
            }
            out.push(Tok::Str(lit));
            i = j + 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let text: String = chars[i..j].iter().collect();
            let n = text.parse::<f64>().map_err(|_| format!("{text:?} is not a number"))?;
            out.push(Tok::Num(n));
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || matches!(chars[j], '_' | '-' | ':')) {
                j += 1;
            }
            out.push(Tok::Ident(chars[i..j].iter().collect()));
            i = j;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(op) => {
                out.push(Tok::Op(op));
                i += op.len();
            }
            None => return Err(format!("unexpected character {c:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == w)
    }

    fn op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(s)) if *s == o)
    }

    fn expect_op(&mut self, o: &str) -> Result<(), String> {
        if self.op(o) {
            self.pos += 1;
            Ok(())
        } else {
            Err(match self.peek() {
                Some(t) => format!("expected {o:?}, found {t}"),
                None => format!("expected {o:?} at the end"),
            })
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.word("or") || self.op("||") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.word("and") || self.op("&&") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.word("not") || self.op("!") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.primary()?;
        let cmp = match self.peek() {
            Some(Tok::Op("==" | "===")) => Some(Cmp::Eq),
            Some(Tok::Op("!=" | "!==")) => Some(Cmp::Ne),
            Some(Tok::Op("<")) => Some(Cmp::Lt),
            Some(Tok::Op("<=")) => Some(Cmp::Le),
            Some(Tok::Op(">")) => Some(Cmp::Gt),
            Some(Tok::Op(">=")) => Some(Cmp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            self.pos += 1;
            let right = self.primary()?;
            return Ok(Expr::Cmp(cmp, Box::new(left), Box::new(right)));
        }
        let negated = self.word("not") && matches!(self.tokens.get(self.pos + 1), Some(Tok::Ident(s)) if s == "in");
        if negated || self.word("in") {
            self.pos += if negated { 2 } else { 1 };
            let list = self.primary()?;
            return Ok(Expr::In { negated, item: Box::new(left), list: Box::new(list) });
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(tok) = self.peek().cloned() else { return Err("the condition ends too early".into()) };
        self.pos += 1;
        match tok {
            Tok::Op("(") => {
                let e = self.or()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                while !self.op("]") {
                    match self.primary()? {
                        Expr::Literal(v) => items.push(v),
                        _ => return Err("a list may hold literals only".into()),
                    }
                    if !self.op("]") {
                        self.expect_op(",")?;
                    }
                }
                self.pos += 1;
                Ok(Expr::Literal(Value::Array(items)))
            }
            Tok::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Tok::Num(n) => Ok(Expr::Literal(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))),
            Tok::Ident(w) => match w.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "null" => Ok(Expr::Literal(Value::Null)),
                "securityContext" | "security_context" | "SECURITY_CONTEXT" | "USER_CONTEXT" => {
                    let mut segments = Vec::new();
                    loop {
                        if self.op(".") {
                            self.pos += 1;
                            match self.peek().cloned() {
                                Some(Tok::Ident(s)) => segments.push(s),
                                _ => return Err(format!("expected a name after {w}.")),
                            }
                            self.pos += 1;
                        } else if let (true, Some(Tok::Str(s))) = (self.op("["), self.tokens.get(self.pos + 1).cloned())
                        {
                            self.pos += 2;
                            self.expect_op("]")?;
                            segments.push(s);
                        } else {
                            break;
                        }
                    }
                    if segments.is_empty() {
                        return Err(format!("{w} alone is not a value; name a path, {w}.<claim>"));
                    }
                    ContextPath::parse(&segments.join(".")).map(Expr::Context)
                }
                other => Err(format!("unknown name {other:?}; a condition reads securityContext.<path> and literals")),
            },
            Tok::Op(o) => Err(format!("unexpected {o:?}")),
        }
    }
}

/// A static type: what a literal is, or `Any` for a context value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Any,
    Bool,
    Num,
    Str,
    Null,
    List,
}

fn ty(e: &Expr) -> Ty {
    match e {
        Expr::Context(_) => Ty::Any,
        Expr::Literal(Value::Bool(_)) => Ty::Bool,
        Expr::Literal(Value::Number(_)) => Ty::Num,
        Expr::Literal(Value::String(_)) => Ty::Str,
        Expr::Literal(Value::Null) => Ty::Null,
        Expr::Literal(_) => Ty::List,
        Expr::Not(_) | Expr::And(..) | Expr::Or(..) | Expr::Cmp(..) | Expr::In { .. } => Ty::Bool,
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Any => "a value",
        Ty::Bool => "a boolean",
        Ty::Num => "a number",
        Ty::Str => "a string",
        Ty::Null => "null",
        Ty::List => "a list",
    }
}

/// Refuse what can never be right: literals of different types compared,
/// an ordering on a boolean or a list, `in` over a non-list literal, and a
/// literal where a boolean is needed.
fn check(e: &Expr) -> Result<(), String> {
    let boolean = |e: &Expr| match ty(e) {
        Ty::Bool | Ty::Any => Ok(()),
        t => Err(format!("{} where a boolean is needed", ty_name(t))),
    };
    match e {
        Expr::Context(_) | Expr::Literal(_) => Ok(()),
        Expr::Not(x) => {
            check(x)?;
            boolean(x)
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            for x in [a, b] {
                check(x)?;
                boolean(x)?;
            }
            Ok(())
        }
        Expr::Cmp(cmp, a, b) => {
            check(a)?;
            check(b)?;
            let (ta, tb) = (ty(a), ty(b));
            if ta != Ty::Any && tb != Ty::Any && ta != tb && ta != Ty::Null && tb != Ty::Null {
                return Err(format!("{} compared with {} ({})", ty_name(ta), ty_name(tb), cmp.as_str()));
            }
            if !matches!(cmp, Cmp::Eq | Cmp::Ne) {
                for t in [ta, tb] {
                    if matches!(t, Ty::Bool | Ty::List | Ty::Null) {
                        return Err(format!("{} cannot be ordered with {}", ty_name(t), cmp.as_str()));
                    }
                }
            }
            Ok(())
        }
        Expr::In { item, list, .. } => {
            check(item)?;
            check(list)?;
            match ty(list) {
                Ty::List | Ty::Any => Ok(()),
                t => Err(format!("`in` needs a list, not {}", ty_name(t))),
            }
        }
    }
}

enum Tri {
    True,
    False,
    Unknown(String),
}

fn tri(b: bool) -> Tri {
    if b { Tri::True } else { Tri::False }
}

/// An operand's value; `Err` names why it has none.
fn value(e: &Expr, ctx: &SecurityContext) -> Result<Value, String> {
    match e {
        Expr::Literal(v) => Ok(v.clone()),
        Expr::Context(path) => match ctx.resolve(path) {
            Resolved::Scalar(v) => Ok(v.clone()),
            Resolved::List(items) => Ok(Value::Array(items.to_vec())),
            Resolved::Missing => Err(format!("securityContext.{path} is missing")),
            Resolved::Invalid(what) => Err(format!("securityContext.{path} is {what}")),
        },
        other => match truth(other, ctx) {
            Tri::True => Ok(Value::Bool(true)),
            Tri::False => Ok(Value::Bool(false)),
            Tri::Unknown(why) => Err(why),
        },
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(x.as_f64() == y.as_f64()),
        (Value::Null, _) | (_, Value::Null) => Some(a == b),
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => Some(a == b),
        _ => None,
    }
}

fn truth(e: &Expr, ctx: &SecurityContext) -> Tri {
    match e {
        Expr::Context(path) => match value(e, ctx) {
            Ok(Value::Bool(b)) => tri(b),
            Ok(v) => Tri::Unknown(format!("securityContext.{path} is {}, not a boolean", kind(&v))),
            Err(why) => Tri::Unknown(why),
        },
        Expr::Literal(Value::Bool(b)) => tri(*b),
        Expr::Literal(v) => Tri::Unknown(format!("{} is not a boolean", kind(v))),
        Expr::Not(x) => match truth(x, ctx) {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            u => u,
        },
        Expr::And(a, b) => match (truth(a, ctx), truth(b, ctx)) {
            (Tri::False, _) | (_, Tri::False) => Tri::False,
            (Tri::Unknown(w), _) | (_, Tri::Unknown(w)) => Tri::Unknown(w),
            _ => Tri::True,
        },
        Expr::Or(a, b) => match (truth(a, ctx), truth(b, ctx)) {
            (Tri::True, _) | (_, Tri::True) => Tri::True,
            (Tri::Unknown(w), _) | (_, Tri::Unknown(w)) => Tri::Unknown(w),
            _ => Tri::False,
        },
        Expr::Cmp(cmp, a, b) => {
            let (x, y) = match (value(a, ctx), value(b, ctx)) {
                (Ok(x), Ok(y)) => (x, y),
                (Err(w), _) | (_, Err(w)) => return Tri::Unknown(w),
            };
            let mismatch = || Tri::Unknown(format!("{} compared with {} ({})", kind(&x), kind(&y), cmp.as_str()));
            match cmp {
                Cmp::Eq | Cmp::Ne => match equal(&x, &y) {
                    Some(eq) => tri(eq == (*cmp == Cmp::Eq)),
                    None => mismatch(),
                },
                _ => {
                    let ord = match (&x, &y) {
                        (Value::Number(p), Value::Number(q)) => p.as_f64().partial_cmp(&q.as_f64()),
                        (Value::String(p), Value::String(q)) => Some(p.cmp(q)),
                        _ => None,
                    };
                    let Some(ord) = ord else { return mismatch() };
                    tri(match cmp {
                        Cmp::Lt => ord.is_lt(),
                        Cmp::Le => ord.is_le(),
                        Cmp::Gt => ord.is_gt(),
                        _ => ord.is_ge(),
                    })
                }
            }
        }
        Expr::In { negated, item, list } => {
            let (x, l) = match (value(item, ctx), value(list, ctx)) {
                (Ok(x), Ok(l)) => (x, l),
                (Err(w), _) | (_, Err(w)) => return Tri::Unknown(w),
            };
            let Value::Array(items) = l else {
                return Tri::Unknown(format!("`in` needs a list, not {}", kind(&l)));
            };
            let found = items.iter().any(|i| equal(&x, i) == Some(true));
            tri(found != *negated)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::provider::VerifiedClaims;

    fn ctx(v: Value) -> SecurityContext {
        let claims = VerifiedClaims::dangerous_assume_verified(v).expect("object");
        SecurityContext::from_verified(claims, None, &[]).expect("context")
    }

    fn eval(cond: &str, v: Value) -> Outcome {
        Condition::parse(cond).expect(cond).eval(&ctx(v))
    }

    #[test]
    fn conditions_evaluate_every_operator() {
        let c = json!({"is_full_time": true, "level": 3, "country": "DE", "groups": ["a", "b"], "org": {"id": 7}});
        for (cond, want) in [
            ("{ securityContext.is_full_time }", Outcome::True),
            ("{ !securityContext.is_full_time }", Outcome::False),
            ("{ not securityContext.is_full_time }", Outcome::False),
            ("{ securityContext.level == 3 }", Outcome::True),
            ("{ securityContext.level === 3.0 }", Outcome::True),
            ("{ securityContext.level != 3 }", Outcome::False),
            ("{ securityContext.level < 4 and securityContext.level >= 3 }", Outcome::True),
            ("{ securityContext.level > 3 || securityContext.level <= 2 }", Outcome::False),
            ("{ securityContext.country in ['DE', 'FR'] }", Outcome::True),
            ("{ securityContext.country not in ['DE', 'FR'] }", Outcome::True.negate()),
            ("{ 'a' in securityContext.groups }", Outcome::True),
            ("{ 'c' not in securityContext.groups }", Outcome::True),
            ("{ security_context.org.id == 7 }", Outcome::True),
            ("${ securityContext['country'] == \"DE\" }", Outcome::True),
            (
                "{ (securityContext.level == 1 or securityContext.level == 3) && securityContext.is_full_time }",
                Outcome::True,
            ),
        ] {
            assert_eq!(eval(cond, c.clone()), want, "{cond}");
        }
    }

    impl Outcome {
        fn negate(self) -> Outcome {
            match self {
                Outcome::True => Outcome::False,
                Outcome::False => Outcome::True,
                u => u,
            }
        }
    }

    #[test]
    fn a_missing_claim_or_a_type_mismatch_never_makes_a_condition_true() {
        let c = json!({"level": "3", "flag": "yes"});
        for cond in [
            "{ securityContext.country != 'DE' }",
            "{ not (securityContext.country == 'DE') }",
            "{ securityContext.country not in ['DE'] }",
            "{ securityContext.level > 2 }",
            "{ securityContext.level != 3 }",
            "{ securityContext.flag }",
            "{ not securityContext.flag }",
            "{ securityContext.missing or securityContext.flag }",
        ] {
            assert!(matches!(eval(cond, c.clone()), Outcome::Unknown(_)), "{cond}");
        }
        assert_eq!(eval("{ securityContext.missing and false }", c), Outcome::False);
    }

    #[test]
    fn conditions_that_cannot_be_right_are_refused_when_the_model_loads() {
        for (cond, want) in [
            ("{ securityContext.level = 3 }", "unexpected character '='"),
            ("{ securityContext.level == }", "ends too early"),
            ("{ 'a' == 1 }", "a string compared with a number"),
            ("{ true < 1 }", "a boolean compared with a number"),
            ("{ securityContext.x < true }", "cannot be ordered"),
            ("{ securityContext.x in 'abc' }", "`in` needs a list"),
            ("{ user.x == 1 }", "unknown name \"user\""),
            ("{ securityContext }", "alone is not a value"),
            ("{ securityContext.x == 1 extra }", "unexpected \"extra\""),
            ("{ 'x' }", "where a boolean is needed"),
            ("{ true }", "is a constant"),
            ("{ securityContext.x and 'y' }", "a string where a boolean is needed"),
            ("{ securityContext.x == 'unterminated }", "unterminated string"),
            ("{ securityContext.x in [securityContext.y] }", "literals only"),
        ] {
            let err = Condition::parse(cond).expect_err(cond);
            assert!(err.contains(want), "{cond}: {err}");
        }
    }
}
