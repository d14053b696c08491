//! The ssh side of the setup: the one `Include` line in the user's config ([`mod@include`], edited losslessly; its globs expanded as ssh expands them, [`mod@glob`]), the
//! include file with one `Host` block per instance ([`hosts`]: render, parse, validate), the locked, atomic
//! store that changes both ([`store`]), the rules that merge found instances into it ([`merge`]), the program path written into `ProxyCommand` ([`program`]), the ssh programs the user's tools run and what each makes of those hosts (`client`), and which ssh flavour
//! (Unix or Windows OpenSSH) it is all written for ([`flavor`]).
//!
//! Below this folder are only `azure::resource_id` (the IDs written into ProxyCommand), `azure::discover`'s results
//! (which [`merge`] turns into hosts) and `util`.

pub(crate) mod client;
pub mod flavor;
pub mod glob;
pub mod hosts;
pub mod include;
pub mod merge;
pub mod program;
pub mod store;
pub(crate) mod syntax;
pub mod values;
pub mod wildcard;
