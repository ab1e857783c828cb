//! What a session keeps of finished runs: their models, to answer questions about them (the page's
//! try-your-own and attention view) after they ended.

use crate::engine::config::ExperimentConfig;
use crate::engine::eval::{ablation_pair, answer_question};
use crate::engine::mechanism::Ablation;
use crate::engine::model::Transformer;
use crate::engine::question::{Answer, Question, RuleOrigin, recheck_question};
use crate::engine::stack::Stack;
use crate::engine::task::{Dataset, Instruction};
use crate::engine::tokenizer::SequenceLayout;
use crate::protocol::{ABLATION_EXAMPLES, Event};
use crate::study::mechanism::Ablated;
use burn::prelude::Device;
use std::collections::{HashSet, VecDeque};

/// A run's model (one run's, without autodiff) and what a question about it needs.
pub struct KeptModel {
    config: ExperimentConfig,
    model: Transformer,
    device: Device,
    layout: SequenceLayout,
    training_rules: HashSet<Instruction>,
    held_out_rules: HashSet<Instruction>,
    /// Every rule of the training instructions: a new program of them is composed.
    trained_rules: HashSet<crate::engine::task::Rule>,
    /// The run's evaluation splits (its training examples left out), for ablations.
    eval: Dataset,
    step: usize,
}

/// What a host asks of a run's model.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// A typed question ([`crate::protocol::Command::Ask`]).
    Ask(Question),
    /// An ablation ([`crate::protocol::Command::Ablate`]).
    Ablate(Ablation),
}

impl Query {
    /// The event that says why there is no reply.
    pub fn refused(&self, why: String) -> Event {
        match self {
            Query::Ask(_) => Event::Answer { answer: Err(why) },
            Query::Ablate(_) => Event::Ablated { ablated: Err(why) },
        }
    }
}

impl KeptModel {
    /// Run `k` of a stack, as it is now.
    pub fn of(stack: &Stack, k: usize) -> Self {
        Self {
            config: stack.config(k).raw().clone(),
            model: stack.inference_model(k),
            device: stack.inference_device(),
            layout: *stack.layout(),
            training_rules: stack
                .dataset(k)
                .train_instructions
                .iter()
                .cloned()
                .collect(),
            held_out_rules: stack.dataset(k).test_instructions.iter().cloned().collect(),
            trained_rules: stack
                .dataset(k)
                .train_instructions
                .iter()
                .flat_map(|i| i.rules().iter().cloned())
                .collect(),
            eval: stack.dataset(k).without_training(),
            step: stack.step(),
        }
    }

    /// The settings of the run.
    pub fn config(&self) -> &ExperimentConfig {
        &self.config
    }

    /// The event that replies to `query`.
    pub async fn reply(&self, query: Query) -> Event {
        match query {
            Query::Ask(question) => Event::Answer {
                answer: self.answer(&question).await,
            },
            Query::Ablate(ablation) => Event::Ablated {
                ablated: self.ablate(&ablation).await,
            },
        }
    }

    /// The model's seen and held-out accuracy with every head and with the heads of `ablation`
    /// silenced, on the first [`ABLATION_EXAMPLES`] examples of each split, and its head scores
    /// on held-out rules.
    ///
    /// # Errors
    /// Heads outside the model, or a failed device, in words.
    pub async fn ablate(&self, ablation: &Ablation) -> Result<Box<Ablated>, String> {
        let model = &self.config.model;
        if ablation.is_empty() {
            return Err("heads: name at least one head to silence".into());
        }
        if let Some((l, h)) = ablation
            .heads
            .iter()
            .find(|(l, h)| *l >= model.layers || *h >= model.heads)
        {
            return Err(format!(
                "heads: {l}.{h} is outside the model, which has {} layers of {} heads",
                model.layers, model.heads
            ));
        }
        let (whole, ablated) = ablation_pair(
            &self.model,
            ablation,
            &self.layout,
            &self.eval,
            self.step,
            Some(ABLATION_EXAMPLES),
            &self.device,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ablated::of(&self.config, self.step, ablation, whole, &ablated).map(Box::new)
    }

    /// The model's answer to `question`, with the attention behind it and whether the rule was one
    /// it trained on, held out, or new.
    ///
    /// # Errors
    /// Why there is no answer, in words: a question the run's task cannot hold (the page checked
    /// it; a message built by hand must not reach the tokenizer's asserts), or a failed device.
    pub async fn answer(&self, question: &Question) -> Result<Box<Answer>, String> {
        let question = recheck_question(&self.config.task, question).map_err(|e| e.to_string())?;
        let origin = if self.training_rules.contains(&question.instruction) {
            RuleOrigin::Training
        } else if self.held_out_rules.contains(&question.instruction) {
            RuleOrigin::HeldOut
        } else if question.instruction.rules().len() > 1
            && question
                .instruction
                .rules()
                .iter()
                .all(|r| self.trained_rules.contains(r))
        {
            RuleOrigin::Composed
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

    /// The kept model of the newest run with these settings (and trained this many steps, when
    /// `step` says).
    pub fn find(&self, config: &ExperimentConfig, step: Option<usize>) -> Option<&KeptModel> {
        self.models
            .iter()
            .rev()
            .find(|m| &m.config == config && step.is_none_or(|s| s == m.step))
    }

    /// Replies to `query` with the kept model of the newest run with these settings (and steps,
    /// see [`Self::find`]).
    pub async fn reply(
        &self,
        config: &ExperimentConfig,
        step: Option<usize>,
        query: Query,
    ) -> Event {
        match self.find(config, step) {
            Some(kept) => kept.reply(query).await,
            None => query.refused(self.gone()),
        }
    }

    /// Why a run's model is not here.
    fn gone(&self) -> String {
        format!(
            "that run's model is not in this tab's memory: the worker keeps the models of the last \
             {} runs it finished since the page was opened, not those of stopped runs, of runs \
             saved before a reload or of runs read from a file. Train the run again, or keep its \
             model with `idp run --save` and use `idp ablate`",
            self.capacity
        )
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
        match self.find(config, None) {
            Some(kept) => kept.answer(question).await,
            None => Err(self.gone()),
        }
    }
}
