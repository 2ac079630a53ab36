-- acc (issue 14): the Call-ID index covers BYE rows only. GET /admin/acc looks BYEs up by Call-ID
-- (`method = 'BYE' AND callid IN (...)`, which this partial index serves) and INVITEs by time
-- (acc_time_idx). Call-IDs are random, so every indexed row lands on a random page of the index
-- and dirties it: on the local D1 (workerd's SQLite) that was ~35 µs of the ~58 µs an acc row
-- cost, twice per call. Indexing only the BYEs halves it; the table's columns are unchanged.
DROP INDEX acc_callid_idx;
CREATE INDEX acc_bye_callid_idx ON acc (callid) WHERE method = 'BYE';
