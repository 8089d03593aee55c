//! A connector that runs a function each time a request's answer is about to be awaited.
//!
//! ureq's `call` sends the request and reads the answer in one go; wrapping the transport is
//! its documented seam (`ureq::unversioned::transport`) for doing work between the two.

use std::fmt;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// ureq's default connector (proxies, TCP, rustls), its connections wrapped so that
/// `before_answer` runs before every wait for input.
pub struct BeforeAnswerConnector {
    inner: DefaultConnector,
    before_answer: Option<fn()>,
}

impl BeforeAnswerConnector {
    pub fn new(before_answer: Option<fn()>) -> Self {
        BeforeAnswerConnector {
            inner: DefaultConnector::new(),
            before_answer,
        }
    }
}

impl fmt::Debug for BeforeAnswerConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeforeAnswerConnector")
            .field("hook", &self.before_answer.is_some())
            .finish()
    }
}

impl Connector<()> for BeforeAnswerConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let transport = self.inner.connect(details, chained)?;
        Ok(match (transport, self.before_answer) {
            (Some(inner), Some(hook)) => Some(Box::new(BeforeAnswer { inner, hook })),
            (transport, _) => transport,
        })
    }
}

/// A connection whose waits for input run `hook` first. The TLS handshake and a proxy's
/// CONNECT happen inside the inner connector, so the first wait seen here is for the answer
/// to a request already sent.
struct BeforeAnswer {
    inner: Box<dyn Transport>,
    hook: fn(),
}

impl fmt::Debug for BeforeAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BeforeAnswer")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Transport for BeforeAnswer {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        (self.hook)();
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
