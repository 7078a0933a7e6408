//! Control requests that wait for their answer: `stop` and `toggle` until
//! the dictation's text is in the window, `load` until the model is in
//! memory. Owns the reply channels, so each asker is answered exactly once
//! (a [`Reply`] is consumed by sending) and nothing about them travels in
//! the dictation phase.
//!
//! It must not decide what the answer is: the loop says when a dictation or
//! a load is done and with what response.

use std::sync::mpsc::Sender;

use ezflow_control::Response;

/// The way back to one control connection, which waits for it.
pub struct Reply(Sender<Response>);

impl Reply {
    pub fn new(sender: Sender<Response>) -> Self {
        Reply(sender)
    }

    /// Answers the request. The asker may have given up waiting (its own
    /// timeout); there is nobody left to tell then, so that is not an error.
    pub fn send(self, response: Response) {
        let _ = self.0.send(response);
    }
}

/// Answers promised for later.
#[derive(Default)]
pub struct PendingReplies {
    /// `stop`/`toggle` that ended a recording: answered when its text is in.
    dictation: Vec<Reply>,
    /// `load`: answered when the load ends, either way.
    load: Vec<Reply>,
}

impl PendingReplies {
    pub fn after_dictation(&mut self, reply: Reply) {
        self.dictation.push(reply);
    }

    pub fn dictation_done(&mut self, response: &Response) {
        for reply in self.dictation.drain(..) {
            reply.send(response.clone());
        }
    }

    pub fn after_load(&mut self, reply: Reply) {
        self.load.push(reply);
    }

    pub fn load_done(&mut self, response: &Response) {
        for reply in self.load.drain(..) {
            reply.send(response.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn each_waiting_asker_gets_one_answer_and_later_ones_none() {
        let mut pending = PendingReplies::default();
        let (first, first_answers) = mpsc::channel();
        let (load, load_answers) = mpsc::channel();
        pending.after_dictation(Reply::new(first));
        pending.after_load(Reply::new(load));

        pending.dictation_done(&Response::done("idle"));
        pending.dictation_done(&Response::error("too late"));

        assert_eq!(
            first_answers.try_iter().collect::<Vec<_>>(),
            vec![Response::done("idle")]
        );
        assert!(
            first_answers.recv().is_err(),
            "the reply was consumed by its answer"
        );
        assert!(
            load_answers.try_recv().is_err(),
            "a load waits for its own end"
        );
        pending.load_done(&Response::done("idle"));
        assert_eq!(load_answers.try_recv().ok(), Some(Response::done("idle")));
    }
}
