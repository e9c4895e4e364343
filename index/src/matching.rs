//! Every message a query matches, without ranking or paging: what a legal hold defined
//! by a query covers (retention asks it once per hold, then checks each message against
//! the set). The query is the search language of [`crate::query`], evaluated with the
//! scope `All` (holds are placed over the whole archive by an officer whose scope the
//! hold's custodians and domains already reflect).

use std::collections::BTreeSet;

use coffer_model::MessageId;
use tantivy::collector::DocSetCollector;

use crate::compile::compile;
use crate::error::{Error, Result};
use crate::query::parse_query;
use crate::schema::names;
use crate::set::IndexSet;

impl IndexSet {
    /// The ids of every indexed message `query` matches (all years the query's date
    /// bounds can meet). A damaged year fails instead of contributing nothing.
    pub fn matching_ids(&self, query: &str) -> Result<BTreeSet<MessageId>> {
        let ast = parse_query(query)?;
        let bounds = ast.date_bounds();
        let (searchers, indexed) = self.searchers_within(&bounds)?;
        let mut out = BTreeSet::new();
        if bounds.is_empty() {
            return Ok(out);
        }
        let mut prefixes = Vec::new();
        let compiled = compile(&ast, &self.schema.fields, indexed, None, &mut prefixes)?;
        crate::limits::check_prefix_expansion(&searchers, &prefixes, self.max_prefix_terms())?;
        for (year, searcher) in &searchers {
            let docs = searcher
                .search(&*compiled, &DocSetCollector)
                .map_err(Error::engine(*year))?;
            for address in docs {
                let segment = searcher.segment_reader(address.segment_ord);
                let seq = segment
                    .fast_fields()
                    .u64(names::SEQ)
                    .map_err(Error::engine(*year))?
                    .first(address.doc_id);
                if let Some(seq) = seq {
                    out.insert(MessageId::new(*year, seq));
                }
            }
        }
        Ok(out)
    }
}
