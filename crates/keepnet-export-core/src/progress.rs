//! How the engine reports progress: a front end implements [`Progress`] (the command line
//! draws bars or prints periodic lines); the engine only counts.

/// Progress for a whole run: one [`CompanyProgress`] per company exported.
pub trait Progress: Sync {
    /// Starts reporting one company's export.
    fn company(&self, name: &str) -> Box<dyn CompanyProgress>;
}

/// One company's export, as it goes.
pub trait CompanyProgress: Send {
    /// The number of users the server announced.
    fn set_total(&mut self, total: u64);
    /// A new read of every page begins: the count starts again from zero.
    fn restart(&mut self);
    /// `users` more were fetched.
    fn advance(&mut self, users: u64);
    /// The export ended, well or not.
    fn finish(&mut self, ok: bool);
}

/// Reports nothing (checks, tests, quiet front ends).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn company(&self, _name: &str) -> Box<dyn CompanyProgress> {
        Box::new(Silent)
    }
}

impl CompanyProgress for Silent {
    fn set_total(&mut self, _total: u64) {}
    fn restart(&mut self) {}
    fn advance(&mut self, _users: u64) {}
    fn finish(&mut self, _ok: bool) {}
}
