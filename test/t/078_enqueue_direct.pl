# A hostile pass over pg_background_enqueue's direct write of its row
# (durable.c: durable_insert_row; docs/durable.md, "Transactional enqueue").
#
# Node: shared_preload_libraries = 'pg_background', roles regress_alice and
# regress_bob (granted the API), pg_background.durable_workers = 4.
#
#  1. Transactions: an enqueue in a savepoint rolled back never runs (its id
#     gives 42704), one in a released savepoint runs; several in one
#     transaction run once each, ids increasing; an enqueue in a transaction
#     that fails later, or in a plpgsql block whose exception is caught,
#     leaves nothing; the row is visible to pg_background_job and the view
#     right after the enqueue (in the same statement too), and a query that
#     enqueues from the view does not see the rows it writes.
#  2. Values: a 10 MB sql (from a toasted column of another table, and
#     computed), a 1 MB label, a NULL label, parameters of many types (with
#     quotes, NULL, numeric, jsonb, arrays, a domain, an enum) bound as
#     their types; an empty sql; run_at in the past and far ahead; the
#     limits of max_attempts, timeout, retry_delay and run_at (22023).
#  3. Context: SET ROLE, SECURITY DEFINER (runs as the definer), a row
#     trigger on a user table, a read-only transaction and
#     default_transaction_read_only (25006), security-restricted operations
#     (CREATE INDEX, REFRESH MATERIALIZED VIEW: 42501), parallel mode (the
#     function is parallel unsafe; one that lies about it gets 25000), an
#     aborted transaction (25P02).
#  4. Concurrency: 8 sessions enqueue 500 jobs each while another runs
#     VACUUM FULL and REINDEX TABLE on the table: no error, ids unique and
#     increasing per session, every job runs exactly once.
#  5. The table changed by a superuser under a session that has written to
#     it: a nullable column added (left null) then dropped; SET NOT NULL on
#     label (55000, nothing written); a column's type changed (55000, not a
#     crash); a unique index on label (23505, nothing written); a deferrable
#     unique constraint (55000: the enqueue cannot defer its check); a
#     BEFORE INSERT row trigger (does not fire for an enqueue); an expression
#     index (runs as the table's owner, not the enqueuing role).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(run_query launcher_session poll_until psql_as sqlstate_of
  wait_job job_fields);

my $node = PostgreSQL::Test::Cluster->new('enqueue_direct');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
max_worker_processes = 16
pg_background.durable_workers = 4
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
SELECT grant_pg_background_privileges('regress_alice', false);
SELECT grant_pg_background_privileges('regress_bob', false);
CREATE TABLE eff (s int, i int);
CREATE TABLE who (k text, cu text, su text);
GRANT ALL ON eff, who TO regress_alice, regress_bob;
});

sub rows_of
{
	my ($where) = @_;
	return psql_as($node, "SELECT count(*) FROM pgbg_durable WHERE $where");
}

# ---------------------------------------------------------------------------
# 1. Transactions.
# ---------------------------------------------------------------------------
my ($sp_rolled, $sp_kept) = split /\n/, psql_as($node, q{
BEGIN;
SAVEPOINT a;
SELECT pg_background_enqueue($$INSERT INTO eff VALUES (1, 1)$$);
ROLLBACK TO a;
SAVEPOINT b;
SELECT pg_background_enqueue($$INSERT INTO eff VALUES (1, 2)$$);
RELEASE b;
COMMIT;
});
is(wait_job($node, $sp_kept), 't', 'an enqueue in a released savepoint runs');
is(sqlstate_of($node, "SELECT * FROM pg_background_job($sp_rolled)"), '42704',
	'an enqueue rolled back to its savepoint does not exist');

my @several = split /\n/, psql_as($node, q{
BEGIN;
SELECT pg_background_enqueue($$INSERT INTO eff VALUES (2, 1)$$);
SELECT pg_background_enqueue($$INSERT INTO eff VALUES (2, 2)$$);
SELECT pg_background_enqueue($$INSERT INTO eff VALUES (2, 3)$$);
COMMIT;
});
ok($several[0] < $several[1] && $several[1] < $several[2],
	'several enqueues in one transaction: ids increasing');
is(wait_job($node, $_), 't', "job $_ of the transaction finishes") for @several;

# A transaction that fails after its enqueue.
my ($ret, $failed_out) = $node->psql('postgres', q{
BEGIN;
SELECT pg_background_enqueue($$INSERT INTO eff VALUES (3, 1)$$);
SELECT 1/0;
COMMIT;
});
my $failed = $failed_out;
# plpgsql: the enqueue is rolled back with the block whose error is caught.
psql_as($node, q{
CREATE FUNCTION enq_then_fail() RETURNS int8 LANGUAGE plpgsql AS $f$
DECLARE
	id int8;
BEGIN
	BEGIN
		id := pg_background_enqueue($$INSERT INTO eff VALUES (4, 1)$$);
		PERFORM 1/0;
	EXCEPTION WHEN division_by_zero THEN
		RETURN id;
	END;
END
$f$;
});
my $caught = psql_as($node, 'SELECT enq_then_fail()');
my $later = psql_as($node, q{SELECT pg_background_enqueue($$INSERT INTO eff VALUES (5, 1)$$)});
is(wait_job($node, $later), 't', 'a job committed after those finishes');
is(sqlstate_of($node, "SELECT * FROM pg_background_job($failed)"), '42704',
	'the enqueue of a failed transaction does not exist');
is(sqlstate_of($node, "SELECT * FROM pg_background_job($caught)"), '42704',
	'the enqueue of a plpgsql block whose error was caught does not exist');
is(psql_as($node, 'SELECT s, i, count(*) FROM eff WHERE s <= 5 GROUP BY s, i ORDER BY s, i'),
	"1|2|1\n2|1|1\n2|2|1\n2|3|1\n5|1|1",
	'exactly the committed jobs ran, once each');

# Visible at once (CommandCounterIncrement), in the same statement too.
is(psql_as($node, q{
BEGIN;
SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1, '1 s', NULL, 'vis') AS v \gset
SELECT state FROM pg_background_job(:v);
SELECT count(*) FROM pg_background_durable_jobs WHERE id = :v AND label = 'vis';
SELECT (pg_background_job(pg_background_enqueue('SELECT 2', '2999-01-01', 1, '1 s', NULL, 'vis'))).state;
COMMIT;
}), "queued\n1\nqueued", 'the row is visible right after the enqueue, in its transaction');
# The query's own snapshot does not see the rows it writes (no endless loop).
is(psql_as($node, q{SELECT count(pg_background_enqueue(sql, run_at, 1, '1 s', NULL, label))
FROM pg_background_durable_jobs WHERE label = 'vis'}), '2',
	'enqueuing from the view reads the rows it had at its start');
is(psql_as($node, q{SELECT count(*) FROM pg_background_durable_jobs WHERE label = 'vis'}), '4',
	'and wrote one row for each');

# ---------------------------------------------------------------------------
# 2. Values.
# ---------------------------------------------------------------------------
# 10 MB of hex, stored out of line uncompressed (STORAGE EXTERNAL); the
# job's SQL takes its md5.
psql_as($node, q{
CREATE TABLE big (s text, b text);
ALTER TABLE big ALTER s SET STORAGE EXTERNAL, ALTER b SET STORAGE EXTERNAL;
CREATE TABLE bigeff (k text, m text);
INSERT INTO big (s) SELECT string_agg(md5(g::text), '') FROM generate_series(1, 327680) g;
UPDATE big SET b = 'INSERT INTO bigeff SELECT ''toasted'', md5(' || quote_literal(s) || ')';
});
is(psql_as($node, q{SELECT length(b) > 10 * 1024 * 1024 FROM big}), 't', 'the SQL is over 10 MB');
my $big1 = psql_as($node, q{SELECT pg_background_enqueue(b) FROM big});
my $big2 = psql_as($node, q{SELECT pg_background_enqueue(
	'INSERT INTO bigeff SELECT ''computed'', md5(' || quote_literal(s) || ')') FROM big});
is(wait_job($node, $big1), 't', 'the job of a toasted 10 MB sql finishes');
is(wait_job($node, $big2), 't', 'the job of a computed 10 MB sql finishes');
is(psql_as($node, qq{SELECT d.id, d.state, md5(d.sql) = md5(b.b) FROM pg_background_durable_jobs d, big b
WHERE d.id = $big1}), "$big1|succeeded|t", 'the stored sql is the toasted column');
is(psql_as($node, qq{SELECT count(*) FROM pg_background_durable_jobs d, big b
WHERE d.id = $big2 AND d.state = 'succeeded'
AND d.sql = 'INSERT INTO bigeff SELECT ''computed'', md5(' || quote_literal(b.s) || ')'}), '1',
	'the stored sql is the computed one');
is(psql_as($node, q{SELECT e.k, e.m = md5(b.s) FROM bigeff e, big b ORDER BY e.k}),
	"computed|t\ntoasted|t", 'both ran with all their text');

my $biglabel = psql_as($node, q{SELECT pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL,
	(SELECT string_agg(md5(g::text), '') FROM generate_series(1, 32768) g))});
my $nolabel = psql_as($node, q{SELECT pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, NULL)});
is(wait_job($node, $biglabel), 't', 'the job of a 1 MB label finishes');
is(wait_job($node, $nolabel), 't', 'the job of a NULL label finishes');
is(job_fields($node, $biglabel, q{md5(label) = (SELECT md5(string_agg(md5(g::text), '')) FROM generate_series(1, 32768) g)}),
	't', 'the 1 MB label is kept');
is(job_fields($node, $nolabel, 'label IS NULL'), 't', 'a NULL label stays NULL');

# Parameters of many types, bound as their types.
psql_as($node, q{
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE pv (a int, b text, c text, d numeric, e jsonb, f int[], g posint,
                 h mood, i text[], types text);
});
my $params = psql_as($node, q{SELECT pg_background_enqueue(
	'INSERT INTO pv VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, concat_ws('','',
	 pg_typeof($1), pg_typeof($2), pg_typeof($3), pg_typeof($4), pg_typeof($5),
	 pg_typeof($6), pg_typeof($7), pg_typeof($8), pg_typeof($9)))',
	NULL, 1, '1 s', NULL, 'params',
	42, $q$it's "quoted" \ $$ '; DROP TABLE pv; --$q$::text, NULL::text,
	12345678901234567890.123456789::numeric, '{"k": [1, "x''y", null]}'::jsonb,
	ARRAY[1, NULL, 3], 7::posint, 'happy'::mood, ARRAY['a,b', NULL, '"q']::text[])});
is(wait_job($node, $params), 't', 'the job with parameters finishes');
is(job_fields($node, $params, 'state'), 'succeeded', 'and succeeded');
is(psql_as($node, q{SELECT a, b = $q$it's "quoted" \ $$ '; DROP TABLE pv; --$q$, c IS NULL, d,
	e = '{"k": [1, "x''y", null]}'::jsonb, f, g, h, i = ARRAY['a,b', NULL, '"q']::text[], types FROM pv}),
	'42|t|t|12345678901234567890.123456789|t|{1,NULL,3}|7|happy|t|'
	  . 'integer,text,text,numeric,jsonb,integer[],posint,mood,text[]',
	'each parameter was bound with its value and type');

my $empty = psql_as($node, q{SELECT pg_background_enqueue('')});
is(wait_job($node, $empty), 't', 'an empty sql finishes');
is(job_fields($node, $empty, 'state, attempts, command_tag IS NULL, sqlstate IS NULL'),
	'succeeded|1|t|t', 'it succeeded, with no command tag');

my $past = psql_as($node, q{SELECT pg_background_enqueue($$INSERT INTO eff VALUES (6, 1)$$, '2000-01-01')});
my $future = psql_as($node, q{SELECT pg_background_enqueue($$INSERT INTO eff VALUES (6, 2)$$, '2999-12-31')});
is(wait_job($node, $past), 't', 'a job due in the past runs');
is(job_fields($node, $future, 'state, attempts'), 'queued|0', 'a job due in 2999 stays queued');
is(psql_as($node, "SELECT pg_background_cancel_job($future)"), 't', 'and can be canceled');
is(job_fields($node, $future, 'state'), 'canceled', 'canceled');

# Limits (docs/durable.md, "Errors").
my $lim = psql_as($node, q{SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1000, '1 day', '2147483647 ms', 'limits')});
is(job_fields($node, $lim, q{max_attempts}), '1000', 'max_attempts 1000 is accepted');
is(psql_as($node, qq{SELECT retry_delay, timeout FROM pg_background_durable_jobs WHERE id = $lim}),
	'1 day|596:31:23.647', 'retry_delay 1 day and timeout 2147483647 ms are accepted');
my $lim2 = psql_as($node, q{SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1, '0', '1 ms', 'limits')});
is(psql_as($node, qq{SELECT retry_delay, timeout FROM pg_background_durable_jobs WHERE id = $lim2}),
	'00:00:00|00:00:00.001', 'retry_delay 0 and timeout 1 ms are accepted');
my %bad = (
	q{'SELECT 1', NULL, 1001} => '22023',
	q{'SELECT 1', NULL, 0} => '22023',
	q{'SELECT 1', NULL, -1} => '22023',
	q{'SELECT 1', NULL, NULL} => '22004',
	q{'SELECT 1', NULL, 1, '1 day 00:00:00.001'} => '22023',
	q{'SELECT 1', NULL, 1, '-1 ms'} => '22023',
	q{'SELECT 1', NULL, 1, '1 mon'} => '22023',
	q{'SELECT 1', NULL, 1, NULL} => '22004',
	q{'SELECT 1', NULL, 1, '1 s', '0.5 ms'} => '22023',
	q{'SELECT 1', NULL, 1, '1 s', '2147483648 ms'} => '22023',
	q{'SELECT 1', NULL, 1, '1 s', '-1 s'} => '22023',
	q{'SELECT 1', 'infinity'} => '22023',
	q{'SELECT 1', '-infinity'} => '22023',
	q{NULL} => '22004');
my $rows_before = rows_of('true');
for my $args (sort keys %bad)
{
	is(sqlstate_of($node, "SELECT pg_background_enqueue($args)"), $bad{$args},
		"pg_background_enqueue($args): $bad{$args}");
}
is(rows_of('true'), $rows_before, 'the refused enqueues wrote nothing');
psql_as($node, q{SELECT pg_background_cancel_job(id) FROM pg_background_durable_jobs
WHERE label IN ('limits', 'vis') AND state = 'queued'});

# ---------------------------------------------------------------------------
# 3. Context.
# ---------------------------------------------------------------------------
my $setrole = psql_as($node, q{SET ROLE regress_alice;
SELECT pg_background_enqueue($$INSERT INTO who VALUES ('setrole', current_user, session_user)$$)});
psql_as($node, q{
CREATE FUNCTION enq_definer() RETURNS int8 LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
	RETURN pg_background_enqueue($$INSERT INTO who VALUES ('definer', current_user, session_user)$$);
END
$f$;
ALTER FUNCTION enq_definer() OWNER TO regress_bob;
GRANT EXECUTE ON FUNCTION enq_definer() TO regress_alice;
});
my $definer = psql_as($node, 'SELECT enq_definer()', 'regress_alice');
is(wait_job($node, $setrole), 't', 'the job enqueued under SET ROLE finishes');
is(wait_job($node, $definer), 't', 'the job enqueued by a SECURITY DEFINER function finishes');
is(job_fields($node, $setrole, 'owner, state'), 'regress_alice|succeeded', 'SET ROLE: the job is the role\'s');
is(job_fields($node, $definer, 'owner, state'), 'regress_bob|succeeded', 'SECURITY DEFINER: the job is the definer\'s');
is(psql_as($node, q{SELECT k, cu, su FROM who ORDER BY k}),
	"definer|regress_bob|regress_bob\nsetrole|regress_alice|regress_alice",
	'each ran as its role');
is(sqlstate_of($node, "SELECT * FROM pg_background_job($definer)", 'regress_alice'), '42704',
	'the caller of the SECURITY DEFINER function does not see the definer\'s job');

# A row trigger on a user table.
psql_as($node, q{
CREATE TABLE orders (n int);
CREATE FUNCTION orders_enqueue() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	PERFORM pg_background_enqueue(format('INSERT INTO eff VALUES (7, %s)', NEW.n),
	                              NULL, 1, '1 s', NULL, 'trigger');
	RETURN NEW;
END
$f$;
CREATE TRIGGER orders_enqueue AFTER INSERT ON orders
	FOR EACH ROW EXECUTE FUNCTION orders_enqueue();
INSERT INTO orders SELECT generate_series(1, 3);
BEGIN;
INSERT INTO orders VALUES (4);
ROLLBACK;
});
my @trig = split /\n/, psql_as($node, q{SELECT id FROM pg_background_durable_jobs WHERE label = 'trigger' ORDER BY id});
is(scalar @trig, 3, 'a row trigger enqueued one job per committed row');
wait_job($node, $_) for @trig;
is(psql_as($node, q{SELECT string_agg(i::text, ',' ORDER BY i) FROM eff WHERE s = 7}), '1,2,3',
	'and they ran');

is(sqlstate_of($node, q{BEGIN READ ONLY; SELECT pg_background_enqueue('SELECT 1');}), '25006',
	'a read-only transaction: 25006');
is(sqlstate_of($node, q{SET default_transaction_read_only = on; SELECT pg_background_enqueue('SELECT 1');}),
	'25006', 'default_transaction_read_only: 25006');
my ($r2, $o2, $aborted) = $node->psql('postgres',
	qq{\\set VERBOSITY verbose\nBEGIN;\nSELECT 1/0;\nSELECT pg_background_enqueue('SELECT 1');\nROLLBACK;},
	on_error_stop => 0);
like($aborted, qr/ERROR:  25P02: current transaction is aborted/, 'an aborted transaction: 25P02');

# Security-restricted operations.
psql_as($node, q{
CREATE FUNCTION enq_imm(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
	-- Qualified: from 17 on, maintenance operations run with search_path
	-- pg_catalog, pg_temp.
	PERFORM public.pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, 'restricted');
	RETURN $1;
END
$f$;
CREATE TABLE ix (i int);
INSERT INTO ix VALUES (1);
CREATE MATERIALIZED VIEW mv AS SELECT enq_imm(1) WITH NO DATA;
});
is(sqlstate_of($node, 'CREATE INDEX ON ix (enq_imm(i))'), '42501',
	'an index expression (CREATE INDEX): 42501');
is(sqlstate_of($node, 'REFRESH MATERIALIZED VIEW mv'), '42501',
	'a materialized view\'s refresh: 42501');
is(rows_of(q{label = 'restricted'}), '0', 'nothing was enqueued');

# Parallel mode.
is(psql_as($node, q{SELECT string_agg(DISTINCT proparallel::text, ',') FROM pg_proc
WHERE proname = 'pg_background_enqueue'}), 'u', 'pg_background_enqueue is parallel unsafe');
my $force = q{SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) \g /dev/null
};
unlike(psql_as($node, $force . q{EXPLAIN (COSTS OFF) SELECT pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, 'parallel')}),
	qr/Gather/, 'a query calling it is not parallelized');
my $par = psql_as($node, $force . q{SELECT pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, 'parallel')});
is(wait_job($node, $par), 't', 'and its job runs');
psql_as($node, q{CREATE FUNCTION enq_lying() RETURNS int8 LANGUAGE plpgsql PARALLEL SAFE AS $f$
BEGIN
	RETURN pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, 'parallel');
END
$f$});
like(psql_as($node, $force . 'EXPLAIN (COSTS OFF) SELECT enq_lying()'), qr/Gather/,
	'a function that lies about it runs in a parallel worker');
is(sqlstate_of($node, $force . 'SELECT enq_lying()'), '25000', 'where the enqueue gives 25000');
is(rows_of(q{label = 'parallel'}), '1', 'nothing was enqueued there');

# ---------------------------------------------------------------------------
# 4. Concurrency: 8 sessions x 500 enqueues, VACUUM FULL and REINDEX TABLE.
# ---------------------------------------------------------------------------
my $sessions = 8;
my $per = 500;
my (@runs, @outs, @errs);
for my $s (1 .. $sessions)
{
	my $file = $node->basedir . "/enqueue_$s.sql";
	open(my $fh, '>', $file) or die "could not write $file: $!";
	print $fh "SELECT pg_background_enqueue('INSERT INTO eff VALUES (" . (100 + $s)
	  . ", $_)', NULL, 1, '1 s', NULL, 'concurrent');\n"
	  for 1 .. $per;
	close($fh);
	$outs[$s] = '';
	$errs[$s] = '';
	push @runs,
	  IPC::Run::start(
		[
			$node->installed_command('psql'), '-XAtq', '-d', $node->connstr('postgres'),
			'-v', 'ON_ERROR_STOP=1', '-f', $file
		],
		'>', \$outs[$s], '2>', \$errs[$s],
		IPC::Run::timeout(300));
}
my $maint = launcher_session($node);
my ($maint_rounds, $vacuum_err, $reindex_err) = (0, '', '');
while (grep { $_->pumpable } @runs)
{
	my ($o, $e) = run_query($maint, 'VACUUM FULL pgbg_durable');
	$vacuum_err .= $e;
	($o, $e) = run_query($maint, 'REINDEX TABLE pgbg_durable');
	$reindex_err .= $e;
	$maint_rounds++;
	$_->pump_nb for grep { $_->pumpable } @runs;
}
$maint->quit;
my @codes = map { $_->finish ? 'ok' : 'failed' } @runs;
is(join(',', @codes), join(',', ('ok') x $sessions), 'every enqueuing session ended without error');
is(join('', @errs[ 1 .. $sessions ]), '', 'and wrote nothing to stderr');
ok($maint_rounds >= 1, "VACUUM FULL and REINDEX TABLE ran $maint_rounds times while they enqueued");
is($vacuum_err, '', 'VACUUM FULL had no error');
# The runner's claim locks the table as its UPDATEs do before its SELECT
# ... FOR UPDATE: REINDEX TABLE, holding ShareLock and waiting for the index
# the SELECT scanned, deadlocked with it (40P01) before.
is($reindex_err, '', 'REINDEX TABLE had no error');
my (%ids, $increasing);
$increasing = 1;
for my $s (1 .. $sessions)
{
	my @mine = split /\n/, $outs[$s];
	is(scalar @mine, $per, "session $s got $per ids");
	for my $k (1 .. $#mine)
	{
		$increasing = 0 unless $mine[$k] > $mine[ $k - 1 ];
	}
	$ids{$_}++ for @mine;
}
is(scalar keys %ids, $sessions * $per, 'the ids are unique');
ok($increasing, 'and increasing in each session');
ok(poll_until($node,
	q{SELECT count(*) FROM pgbg_durable WHERE label = 'concurrent' AND state <> 'succeeded'},
	'0', 240), 'every concurrent job finished');
is(psql_as($node, q{SELECT count(*), count(DISTINCT (s, i)) FROM eff WHERE s > 100}),
	($sessions * $per) . '|' . ($sessions * $per), 'each ran exactly once');
is(rows_of(q{label = 'concurrent' AND attempts <> 1}), '0', 'each in one attempt');

# ---------------------------------------------------------------------------
# 5. The table changed under a session that has written to it (its layout
#    is remembered).
# ---------------------------------------------------------------------------
my $s = launcher_session($node);

# The SQLSTATE of $sql in the session $s ('' if none), and its output.
sub in_s
{
	my ($sql) = @_;
	my ($out, $err) = run_query($s, $sql);
	return ($err =~ /ERROR:  ([0-9A-Z]{5}):/ ? $1 : '', $out);
}

my ($st, $id);
($st, $id) = in_s(q{SELECT pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, 'layout')});
is($st, '', 'the session enqueues');
psql_as($node, 'ALTER TABLE pgbg_durable ADD COLUMN extra1 int, ADD COLUMN extra2 int DEFAULT 5');
($st, $id) = in_s(q{SELECT pg_background_enqueue($$INSERT INTO eff VALUES (8, 1)$$, NULL, 1, '1 s', NULL, 'layout')});
is($st, '', 'after nullable columns were added, it enqueues');
is(psql_as($node, "SELECT extra1 IS NULL, extra2 IS NULL FROM pgbg_durable WHERE id = $id"), 't|t',
	'and leaves them null (a default is not applied)');
is(wait_job($node, $id), 't', 'its job finishes');
psql_as($node, 'ALTER TABLE pgbg_durable DROP COLUMN extra1, DROP COLUMN extra2');
($st, $id) = in_s(q{SELECT pg_background_enqueue($$INSERT INTO eff VALUES (8, 2)$$, NULL, 1, '1 s', NULL, 'layout')});
is($st, '', 'after they were dropped, it enqueues');
is(wait_job($node, $id), 't', 'its job finishes');
is(psql_as($node, q{SELECT string_agg(i::text, ',' ORDER BY i) FROM eff WHERE s = 8}), '1,2', 'both ran');

# SET NOT NULL on a column the enqueue may leave null.
psql_as($node, q{UPDATE pgbg_durable SET label = '' WHERE label IS NULL;
ALTER TABLE pgbg_durable ALTER label SET NOT NULL});
$rows_before = rows_of('true');
($st) = in_s(q{SELECT pg_background_enqueue('SELECT 1')});
is($st, '55000', 'label NOT NULL: the enqueue is refused with 55000');
($st) = in_s(q{SELECT pg_background_enqueue('SELECT 1', NULL, 1, '1 s', NULL, 'has one')});
is($st, '55000', 'also with a label (the layout is refused)');
is(rows_of('true'), $rows_before, 'and nothing was written');
psql_as($node, 'ALTER TABLE pgbg_durable ALTER label DROP NOT NULL');
($st, $id) = in_s(q{SELECT pg_background_enqueue('SELECT 1')});
is($st, '', 'without the NOT NULL, it enqueues again');
is(wait_job($node, $id), 't', 'its job finishes');

# A column's type changed (errors is not shown by the view) in the
# session's own transaction: refused, not a crash.
($st) = in_s(q{BEGIN;
ALTER TABLE pgbg_durable ALTER errors TYPE text;
SELECT pg_background_enqueue('SELECT 1');});
is($st, '55000', 'a column of another type is refused with 55000');
in_s('ROLLBACK');
($st, $id) = in_s(q{SELECT pg_background_enqueue('SELECT 1')});
is($st, '', 'after the rollback of the change, it enqueues');
is(wait_job($node, $id), 't', 'its job finishes');

# A unique index on label.
psql_as($node, q{CREATE UNIQUE INDEX pgbg_durable_uniq ON pgbg_durable (label) WHERE label LIKE 'uniq%'});
($st) = in_s(q{SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1, '1 s', NULL, 'uniq1')});
is($st, '', 'a first label enqueues');
($st) = in_s(q{SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1, '1 s', NULL, 'uniq1')});
is($st, '23505', 'a duplicate label fails with 23505');
is(rows_of(q{label = 'uniq1'}), '1', 'and writes nothing');
psql_as($node, 'DROP INDEX pgbg_durable_uniq');

# A deferrable unique constraint (its check would be deferred to a trigger
# of the statement, which an enqueue does not have).
psql_as($node, q{ALTER TABLE pgbg_durable ADD CONSTRAINT pgbg_durable_label_u
	EXCLUDE (label WITH =) WHERE (label LIKE 'defer%') DEFERRABLE INITIALLY IMMEDIATE});
($st) = in_s(q{SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1, '1 s', NULL, 'defer1')});
is($st, '55000', 'a deferrable constraint is refused with 55000');
is(rows_of(q{label LIKE 'defer%'}), '0', 'and nothing was written');
psql_as($node, 'ALTER TABLE pgbg_durable DROP CONSTRAINT pgbg_durable_label_u');
psql_as($node, q{SELECT pg_background_cancel_job(id) FROM pg_background_durable_jobs WHERE label LIKE 'uniq%'});

# A BEFORE INSERT row trigger: does not fire for an enqueue (docs).
psql_as($node, q{
CREATE TABLE fired (id int8);
CREATE FUNCTION pgbg_before() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	INSERT INTO fired VALUES (NEW.id);
	RETURN NEW;
END
$f$;
CREATE TRIGGER pgbg_before BEFORE INSERT ON pgbg_durable
	FOR EACH ROW EXECUTE FUNCTION pgbg_before();
});
($st, $id) = in_s(q{SELECT pg_background_enqueue($$INSERT INTO eff VALUES (9, 1)$$)});
is($st, '', 'with a BEFORE INSERT row trigger, it enqueues');
is(wait_job($node, $id), 't', 'its job finishes');
is(psql_as($node, 'SELECT count(*) FROM fired'), '0', 'the trigger did not fire for the enqueue');
is(psql_as($node, 'SELECT count(*) FROM eff WHERE s = 9'), '1', 'the job ran');
psql_as($node, 'DROP TRIGGER pgbg_before ON pgbg_durable');

# An expression index a superuser adds runs as the table's owner (as the
# transitions that go through SPI do), not as the enqueuing role.
psql_as($node, q{
CREATE FUNCTION pgbg_idx_who(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
	RAISE NOTICE 'index expression as %', current_user;
	RETURN $1;
END
$f$;
CREATE INDEX pgbg_durable_who ON pgbg_durable (pgbg_idx_who(label)) WHERE label = 'who';
});
my ($who_ret, $who_out, $who_err) = $node->psql('postgres',
	q{SELECT pg_background_enqueue('SELECT 1', '2999-01-01', 1, '1 s', NULL, 'who')},
	extra_params => [ '-U', 'regress_alice' ]);
is($who_ret, 0, 'an enqueue with an expression index succeeds');
like($who_err, qr/index expression as postgres/,
	'the index expression ran as the table\'s owner');
unlike($who_err, qr/index expression as regress_alice/, 'not as the enqueuing role');
psql_as($node, 'DROP INDEX pgbg_durable_who');
psql_as($node, q{SELECT pg_background_cancel_job(id) FROM pg_background_durable_jobs WHERE label = 'who'});
$s->quit;

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP|PANIC|was terminated by signal/, 'no assertion failure, PANIC or crash in the log');

$node->stop;
done_testing();
