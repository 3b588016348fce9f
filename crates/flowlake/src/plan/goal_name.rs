//! `goal_name(label)`: the goal's name from `goals.json`, or null.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_string_array;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Looks labels up in one organization's goal names.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GoalName {
    names: Arc<BTreeMap<String, String>>,
    signature: Signature,
}

impl GoalName {
    /// The UDF over these names (goal id → name).
    pub fn udf(names: BTreeMap<String, String>) -> ScalarUDF {
        ScalarUDF::new_from_impl(GoalName {
            names: Arc::new(names),
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        })
    }

    /// The goal names this function looks up (what a plan sent to a cluster carries).
    pub fn names(&self) -> &BTreeMap<String, String> {
        &self.names
    }
}

impl GoalName {
    /// The name of the goal `label`. Names are keyed by canonical (lowercase) UUIDs; a label
    /// spelled otherwise is canonicalised, which only labels without a name pay for.
    fn lookup(&self, label: &str) -> Option<&str> {
        match self.names.get(label) {
            Some(name) => Some(name),
            None if label.len() == 36 && label.bytes().any(|b| b.is_ascii_uppercase()) => self
                .names
                .get(&label.to_ascii_lowercase())
                .map(String::as_str),
            None => None,
        }
    }
}

impl ScalarUDFImpl for GoalName {
    fn name(&self) -> &str {
        "goal_name"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(label)) => {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                    label
                        .as_deref()
                        .and_then(|l| self.lookup(l))
                        .map(str::to_string),
                )))
            }
            ColumnarValue::Scalar(other) => {
                datafusion::common::exec_err!(
                    "goal_name expects a string, got {}",
                    other.data_type()
                )
            }
            ColumnarValue::Array(array) => {
                let labels = as_string_array(array)?;
                let names: StringArray = (0..labels.len())
                    .map(|i| {
                        if labels.is_null(i) {
                            None
                        } else {
                            self.lookup(labels.value(i))
                        }
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(names)))
            }
        }
    }
}
