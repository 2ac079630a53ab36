-- Rows written are what D1 bills, and every index entry a write adds is one more row (a row
-- with two indexes: three). The time index serves only the listing of call attempts
-- (GET /admin/acc: INVITE rows by arrival time), while BYE rows are found by Call-ID. So the
-- time index now holds INVITE rows only, and a BYE row costs two rows written (the row and its
-- Call-ID entry) instead of three: five per answered call instead of six. A query by time over
-- every method (not one sipedge makes) no longer has an index: add `AND method = 'INVITE'` or
-- an index of your own. Building the new index reads the whole table and writes one row per
-- INVITE row, in one statement under D1's time limit: an acc table of many millions of rows
-- should have its old rows moved out first (README, "Call records").
DROP INDEX acc_time_idx;
CREATE INDEX acc_time_idx ON acc (time_ms) WHERE method = 'INVITE';
