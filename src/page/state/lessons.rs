//! The lesson open on the page and the reader's prediction.

/// A lesson opened in the page and the reader's prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonState {
    /// Its identifier (see [`crate::study::lessons`]).
    pub id: String,
    /// The answer the reader chose before running.
    pub prediction: Option<usize>,
}

/// A change to the open lesson.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LessonAction {
    /// Open a lesson (its settings load) or close it.
    Open(Option<String>),
    /// The reader's prediction for the open lesson.
    Predict(usize),
    /// Run the open lesson's sweep (after a prediction).
    Run,
}

impl LessonState {
    /// A lesson just opened, with no prediction yet.
    pub fn opened(id: String) -> Self {
        Self {
            id,
            prediction: None,
        }
    }
}
