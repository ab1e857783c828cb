//! What a session keeps of finished runs: their models, to answer questions about them (the page's
//! try-your-own and attention view) after they ended.

use crate::engine::config::ExperimentConfig;
use crate::engine::eval::answer_question;
use crate::engine::model::Transformer;
use crate::engine::question::{Answer, Question, RuleOrigin, check_question};
use crate::engine::stack::Stack;
use crate::engine::task::Rule;
use crate::engine::tokenizer::SequenceLayout;
use burn::prelude::Device;
use std::collections::{HashSet, VecDeque};

/// A run's model (one run's, without autodiff) and what a question about it needs.
pub struct KeptModel {
    config: ExperimentConfig,
    model: Transformer,
    device: Device,
    layout: SequenceLayout,
    training_rules: HashSet<Rule>,
    held_out_rules: HashSet<Rule>,
    step: usize,
}

impl KeptModel {
    /// Run `k` of a stack, as it is now.
    pub fn of(stack: &Stack, k: usize) -> Self {
        Self {
            config: stack.config(k).raw().clone(),
            model: stack.inference_model(k),
            device: stack.inference_device(),
            layout: *stack.layout(),
            training_rules: stack.dataset(k).train_rules.iter().cloned().collect(),
            held_out_rules: stack.dataset(k).test_rules.iter().cloned().collect(),
            step: stack.step(),
        }
    }

    /// The settings of the run.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// The model's answer to `question`, with the attention behind it and whether the rule was one
    /// it trained on, held out, or new.
    ///
    /// # Errors
    /// Why there is no answer, in words: a question the run's task cannot hold (the page checked
    /// it; a message built by hand must not reach the tokenizer's asserts), or a failed device.
    pub async fn answer(&self, question: &Question) -> Result<Box<Answer>, String> {
        let question = check_question(
            &self.config.task,
            &question.rule.x,
            &question.rule.y,
            &question.z,
        )
        .map_err(|e| e.to_string())?;
        let origin = if self.training_rules.contains(&question.rule) {
            RuleOrigin::Training
        } else if self.held_out_rules.contains(&question.rule) {
            RuleOrigin::HeldOut
        } else {
            RuleOrigin::New
        };
        answer_question(
            &self.model,
            &self.layout,
            &question,
            origin,
            self.step,
            &self.device,
        )
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
    }
}

/// The models of the last few finished runs, newest last.
pub struct Kept {
    capacity: usize,
    models: VecDeque<KeptModel>,
}

impl Kept {
    /// Keeps at most `capacity` models.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            models: VecDeque::new(),
        }
    }

    /// Models kept.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Keeps `model`, forgetting the oldest when full.
    pub fn keep(&mut self, model: KeptModel) {
        if self.capacity == 0 {
            return;
        }
        if self.models.len() == self.capacity {
            self.models.pop_front();
        }
        self.models.push_back(model);
    }

    /// The kept model of the newest run with these settings.
    pub fn find(&self, config: &ExperimentConfig) -> Option<&KeptModel> {
        self.models.iter().rev().find(|m| &m.config == config)
    }

    /// Answers `question` with the kept model of the newest run with these settings.
    ///
    /// # Errors
    /// Why there is no answer: no such model is kept (it was never trained here, or is too old), or
    /// as [`KeptModel::answer`].
    pub async fn answer(
        &self,
        config: &ExperimentConfig,
        question: &Question,
    ) -> Result<Box<Answer>, String> {
        match self.find(config) {
            Some(kept) => kept.answer(question).await,
            None => Err(format!(
                "that run's model is no longer in this tab's memory (the worker keeps the last {} runs)",
                self.capacity
            )),
        }
    }
}
