//! Aggregation operators (`sum by (...)`, `topk`, `count_values`, ...).

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMITK, T_LIMIT_RATIO, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::{Elem, Evaluator, Val};
use crate::error::EvalError;
use crate::hashing::{fast_map, FastMap};
use crate::labels::{Labels, METRIC_NAME};
use crate::math::{kahan_inc, quantile};

/// The running state of one output group.
struct Group {
    labels: Labels,
    drop_name: bool,
    count: f64,
    value: f64,
    kahan_c: f64,
    mean: f64,
    incremental_mean: bool,
    /// Inputs kept whole: values for `quantile`, samples for `topk` & co.
    elems: Vec<Elem>,
}

/// Finds the output group of each input without building its label set:
/// groups are keyed by a hash of the grouping pairs and confirmed by
/// comparing those pairs, so only one label set is built per group.
///
/// In a range query one grouper serves an aggregation at every step: the
/// groups it found stay known, and each input label set (by its
/// allocation, which the stored series share from step to step) remembers
/// its group, so a later step finds it with one lookup instead of hashing
/// and comparing labels again. Step-local indexes keep each step's groups
/// in order of first appearance, as a fresh grouper would.
#[derive(Default)]
pub(crate) struct Grouper {
    by_hash: FastMap<u64, Vec<usize>>,
    /// One input's labels per known group, to compare against.
    representatives: Vec<Labels>,
    /// Input labels (by allocation, kept alive here so the address stays
    /// theirs) to their known group; `None` when not remembering.
    memo: Option<FastMap<usize, (Labels, usize)>>,
    /// Known group -> its index in the current step (`usize::MAX`: none).
    local: Vec<usize>,
    step_groups: usize,
}

/// Inputs whose label sets are new at every step (a binary operation's
/// results, `label_replace`) would make the memo grow by a step's worth
/// each step; past this many entries per input of a step it is dropped.
const MEMO_PER_INPUT: usize = 4;

impl Grouper {
    /// A grouper for one step.
    fn new() -> Self {
        Grouper::default()
    }

    /// A grouper that remembers inputs across the steps of a range query.
    pub(crate) fn remembering() -> Self {
        Grouper {
            memo: Some(fast_map()),
            ..Grouper::default()
        }
    }

    fn start_step(&mut self, inputs: usize) {
        self.local.iter_mut().for_each(|i| *i = usize::MAX);
        self.step_groups = 0;
        if self
            .memo
            .as_ref()
            .is_some_and(|m| m.len() > MEMO_PER_INPUT * inputs.max(1024))
        {
            self.memo = None;
        }
    }

    fn pairs<'l>(
        labels: &'l Labels,
        modifier: &'l Option<LabelModifier>,
    ) -> impl Iterator<Item = (&'l [u8], &'l [u8])> + 'l {
        labels
            .raw_iter()
            .filter(move |(n, _)| in_group(n, modifier))
    }

    /// The step's group index of `labels`, and whether it is new this step.
    fn group_of(&mut self, labels: &Labels, modifier: &Option<LabelModifier>) -> (usize, bool) {
        let known = match self.memo.as_ref().and_then(|m| m.get(&labels.identity())) {
            Some((_, known)) => *known,
            None => {
                let known = self.known_group(labels, modifier);
                if let Some(memo) = &mut self.memo {
                    memo.insert(labels.identity(), (labels.clone(), known));
                }
                known
            }
        };
        if known >= self.local.len() {
            self.local.resize(known + 1, usize::MAX);
        }
        match self.local[known] {
            usize::MAX => {
                self.local[known] = self.step_groups;
                self.step_groups += 1;
                (self.local[known], true)
            }
            i => (i, false),
        }
    }

    /// The known group of `labels`, found by hashing its grouping pairs.
    fn known_group(&mut self, labels: &Labels, modifier: &Option<LabelModifier>) -> usize {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (n, v) in Self::pairs(labels, modifier) {
            h.update(n);
            h.update(&[0xff]);
            h.update(v);
            h.update(&[0xff]);
        }
        let hash = h.digest();
        if let Some(candidates) = self.by_hash.get(&hash) {
            for &i in candidates {
                if Self::pairs(&self.representatives[i], modifier).eq(Self::pairs(labels, modifier))
                {
                    return i;
                }
            }
        }
        let i = self.representatives.len();
        self.representatives.push(labels.clone());
        self.by_hash.entry(hash).or_default().push(i);
        i
    }
}

fn in_group(name: &[u8], modifier: &Option<LabelModifier>) -> bool {
    let listed = |ls: &promql_parser::label::Labels| ls.labels.iter().any(|l| l.as_bytes() == name);
    match modifier {
        None => false,
        Some(LabelModifier::Include(ls)) => listed(ls),
        Some(LabelModifier::Exclude(ls)) => name != METRIC_NAME.as_bytes() && !listed(ls),
    }
}

fn grouping_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::empty(),
        Some(LabelModifier::Include(ls)) => labels.filter(|n| ls.labels.iter().any(|l| l == n)),
        Some(LabelModifier::Exclude(ls)) => {
            labels.filter(|n| n != METRIC_NAME && !ls.labels.iter().any(|l| l == n))
        }
    }
}

/// Go's `int64(f)` clamp for the `k` of topk/bottomk/limitk.
fn k_param(f: f64) -> i64 {
    if f >= i64::MAX as f64 {
        i64::MAX
    } else if f <= i64::MIN as f64 {
        i64::MIN
    } else {
        f as i64
    }
}

impl<'a> Evaluator<'a> {
    pub(crate) fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Val, EvalError> {
        let op = a.op.id();
        let mut param = None;
        let mut label_param = None;
        if let Some(p) = &a.param {
            match self.eval(p, t)? {
                Val::Scalar(v) => param = Some(v),
                Val::Str(s) => label_param = Some(s),
                other => {
                    return Err(EvalError::InvalidQuery(format!(
                        "expected scalar or string parameter, got {}",
                        other.type_name()
                    )))
                }
            }
        }
        let mut input = self.eval_vector(&a.expr, t)?;

        if op == T_COUNT_VALUES {
            let name = label_param.unwrap_or_default();
            if name.is_empty() || name.contains('\u{FFFD}') {
                return Err(EvalError::InvalidArgument(format!(
                    "invalid label name {name:?}"
                )));
            }
            for e in &mut input {
                e.labels = e.labels.with(&name, &format_count_value(e.value));
            }
            let modifier = match &a.modifier {
                Some(LabelModifier::Include(ls)) => {
                    let mut ls = ls.clone();
                    ls.labels.push(name.clone());
                    Some(LabelModifier::Include(ls))
                }
                // No clause groups like `by (<label>)`.
                None => Some(LabelModifier::Include(promql_parser::label::Labels::new(
                    vec![name.as_str()],
                ))),
                other => other.clone(),
            };
            return Ok(Val::Vector(
                self.simple_groups(T_COUNT, input, &modifier, None),
            ));
        }

        match op {
            T_TOPK | T_BOTTOMK | T_LIMITK => {
                let p = param.unwrap_or(f64::NAN);
                if p.is_nan() {
                    return Err(EvalError::InvalidArgument(format!(
                        "Parameter value is NaN for {}",
                        a.op
                    )));
                }
                let k = k_param(p);
                if k < 1 {
                    return Ok(Val::Vector(Vec::new()));
                }
                Ok(Val::Vector(select_k(op, k as usize, input, &a.modifier)))
            }
            T_LIMIT_RATIO => {
                let r = param.unwrap_or(f64::NAN);
                if r.is_nan() {
                    return Err(EvalError::InvalidArgument(format!(
                        "Ratio value is NaN for {}",
                        a.op
                    )));
                }
                let r = r.clamp(-1.0, 1.0);
                if r == 0.0 {
                    return Ok(Val::Vector(Vec::new()));
                }
                input.retain(|e| {
                    let offset = e.labels.prometheus_hash() as f64 / u64::MAX as f64;
                    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
                });
                Ok(Val::Vector(input))
            }
            T_QUANTILE => {
                let q = param.unwrap_or(f64::NAN);
                let mut out = self.collect_groups(input, &a.modifier);
                Ok(Val::Vector(
                    out.drain(..)
                        .map(|g| {
                            let values: Vec<f64> = g.elems.iter().map(|e| e.value).collect();
                            Elem {
                                labels: g.labels,
                                value: quantile(q, values),
                                drop_name: g.drop_name,
                            }
                        })
                        .collect(),
                ))
            }
            T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR => {
                let node = a as *const AggregateExpr as usize;
                Ok(Val::Vector(self.simple_groups(
                    op,
                    input,
                    &a.modifier,
                    Some(node),
                )))
            }
            _ => Err(EvalError::Unsupported(format!("aggregation {}", a.op))),
        }
    }

    /// Groups whole samples (for quantile), in order of first appearance.
    fn collect_groups(&self, input: Vec<Elem>, modifier: &Option<LabelModifier>) -> Vec<Group> {
        let mut index: FastMap<Labels, usize> = fast_map();
        let mut groups: Vec<Group> = Vec::new();
        for e in input {
            let key = grouping_labels(&e.labels, modifier);
            let i = *index.entry(key.clone()).or_insert_with(|| {
                groups.push(new_group(key, 0.0));
                groups.len() - 1
            });
            groups[i].drop_name |= e.drop_name;
            groups[i].elems.push(e);
        }
        groups
    }

    /// sum, avg, count, min, max, group, stddev, stdvar.
    fn simple_groups(
        &self,
        op: u16,
        input: Vec<Elem>,
        modifier: &Option<LabelModifier>,
        node: Option<usize>,
    ) -> Vec<Elem> {
        // A range query keeps each aggregation's grouper from step to step
        // (count_values makes new label sets each step: not worth it).
        let kept = node.and_then(|n| self.steps.as_ref().map(|steps| (n, steps)));
        let mut grouper = match kept {
            Some((n, steps)) => steps
                .groupers
                .borrow_mut()
                .remove(&n)
                .unwrap_or_else(Grouper::remembering),
            None => Grouper::new(),
        };
        grouper.start_step(input.len());
        let mut groups: Vec<Group> = Vec::new();
        for e in input {
            let f = e.value;
            let i = match grouper.group_of(&e.labels, modifier) {
                (i, false) => i,
                (_, true) => {
                    let mut g = new_group(grouping_labels(&e.labels, modifier), f);
                    g.drop_name = e.drop_name;
                    match op {
                        // NaN and Inf make the variance undefined for good.
                        T_STDDEV | T_STDVAR if !f.is_finite() => g.value = f64::NAN,
                        T_STDDEV | T_STDVAR => g.value = 0.0,
                        T_GROUP => g.value = 1.0,
                        _ => {}
                    }
                    groups.push(g);
                    continue;
                }
            };
            let g = &mut groups[i];
            g.drop_name |= e.drop_name;
            g.count += 1.0;
            match op {
                T_SUM => (g.value, g.kahan_c) = kahan_inc(f, g.value, g.kahan_c),
                T_AVG => add_to_mean(g, f),
                T_MIN if g.value > f || g.value.is_nan() => g.value = f,
                T_MAX if g.value < f || g.value.is_nan() => g.value = f,
                T_STDDEV | T_STDVAR if !f.is_finite() => g.value = f64::NAN,
                T_STDDEV | T_STDVAR => {
                    let delta = f - g.mean;
                    g.mean += delta / g.count;
                    g.value += delta * (f - g.mean);
                }
                _ => {}
            }
        }
        if let Some((n, steps)) = kept {
            steps.groupers.borrow_mut().insert(n, grouper);
        }
        groups
            .into_iter()
            .map(|g| {
                let value = match op {
                    T_SUM => g.value + g.kahan_c,
                    T_AVG if g.incremental_mean => g.mean + g.kahan_c,
                    T_AVG => g.value / g.count + g.kahan_c / g.count,
                    T_COUNT => g.count,
                    T_STDVAR => g.value / g.count,
                    T_STDDEV => (g.value / g.count).sqrt(),
                    _ => g.value,
                };
                Elem {
                    labels: g.labels,
                    value,
                    drop_name: g.drop_name,
                }
            })
            .collect()
    }
}

fn new_group(labels: Labels, f: f64) -> Group {
    Group {
        labels,
        drop_name: false,
        count: 1.0,
        value: f,
        kahan_c: 0.0,
        mean: f,
        incremental_mean: false,
        elems: Vec::new(),
    }
}

/// Prometheus' avg: a Kahan sum while it stays finite, then an incremental
/// mean, so that large inputs do not overflow.
fn add_to_mean(g: &mut Group, f: f64) {
    if !g.incremental_mean {
        let (sum, c) = kahan_inc(f, g.value, g.kahan_c);
        if !sum.is_infinite() {
            g.value = sum;
            g.kahan_c = c;
            return;
        }
        g.incremental_mean = true;
        g.mean = g.value / (g.count - 1.0);
        g.kahan_c /= g.count - 1.0;
    }
    if g.mean.is_infinite() {
        if f.is_infinite() && (g.mean > 0.0) == (f > 0.0) {
            return;
        }
        if !f.is_infinite() && !f.is_nan() {
            return;
        }
    }
    let current = g.mean + g.kahan_c;
    (g.mean, g.kahan_c) = kahan_inc(f / g.count - current / g.count, g.mean, g.kahan_c);
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_count_value(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

/// topk/bottomk/limitk per group, replaying Go's heap so ties resolve the
/// same way Prometheus resolves them.
fn select_k(op: u16, k: usize, input: Vec<Elem>, modifier: &Option<LabelModifier>) -> Vec<Elem> {
    let mut index: FastMap<Labels, usize> = fast_map();
    let mut heaps: Vec<Vec<Elem>> = Vec::new();
    // topk keeps the smallest on top; bottomk the largest. NaN always "less".
    let less = |a: &Elem, b: &Elem| -> bool {
        if a.value.is_nan() {
            return true;
        }
        if op == T_BOTTOMK {
            a.value > b.value
        } else {
            a.value < b.value
        }
    };
    for e in input {
        let key = grouping_labels(&e.labels, modifier);
        let i = *index.entry(key).or_insert_with(|| {
            heaps.push(Vec::new());
            heaps.len() - 1
        });
        let heap = &mut heaps[i];
        if heap.len() < k {
            heap.push(e);
            if op != T_LIMITK {
                let n = heap.len() - 1;
                heap_up(heap, n, &less);
            }
            continue;
        }
        if op == T_LIMITK {
            continue;
        }
        let top = heap[0].value;
        let replace = if op == T_TOPK {
            top < e.value || (top.is_nan() && !e.value.is_nan())
        } else {
            top > e.value || (top.is_nan() && !e.value.is_nan())
        };
        if replace {
            heap[0] = e;
            if k > 1 && !heap_down(heap, 0, &less) {
                heap_up(heap, 0, &less);
            }
        }
    }
    let mut out = Vec::new();
    for mut heap in heaps {
        if op != T_LIMITK {
            // Best first, NaN last.
            heap.sort_by(|a, b| {
                let (x, y) = (a.value, b.value);
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if op == T_TOPK => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
        }
        out.extend(heap);
    }
    out
}

fn heap_up(h: &mut [Elem], mut j: usize, less: &impl Fn(&Elem, &Elem) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Elem], i0: usize, less: &impl Fn(&Elem, &Elem) -> bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}
