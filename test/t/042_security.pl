# Security: who may touch a job, as whom a job runs, what a job may do.
#
# (1) Another session's job (PID and cookie passed through a table), from
#     another session of the same role and of another role: result, result_v2,
#     detach, detach_v2, cancel_v2, cancel_v2_grace, wait_v2,
#     wait_v2_timeout, wait_any, get_progress_v2 and outcome all raise 42704;
#     cancel_label cancels nothing; the job is in neither pg_background_jobs
#     nor list_v2; the job is undisturbed and its launcher reads it.
# (2) The same session after SET ROLE to an unrelated role (granted the
#     extension's privileges): every function raises 42501 "permission
#     denied for background worker", cancel_label cancels nothing, the job is
#     not listed; after RESET ROLE it is listed and readable.
# (3) A job launched inside a SECURITY DEFINER function (owned by
#     regress_owner, executed by regress_caller) is a session of
#     regress_owner (its session user too), can read what regress_owner can
#     read and nothing that only regress_caller can, cannot SET ROLE / SET
#     SESSION AUTHORIZATION / set_config(role) to the caller (42501), and
#     RESET ROLE leaves it regress_owner;
#     a job the function launched and returned belongs to regress_owner, so
#     regress_caller cannot read it (42501).
# (4) In a non-superuser's job: SET ROLE / SET SESSION AUTHORIZATION to a
#     role it is not a member of -> 42501, SET ROLE to a role it is a member
#     of works; superuser-only settings (session_replication_role,
#     set_config of it, ALTER SYSTEM) -> 42501.
# (5) Parameters carry data, not SQL: $$'); DROP TABLE t; --$$ is inserted
#     as a string (v1, v2, submit_v2), the table survives, a parameter
#     cannot stand for an identifier, and "$2" inside a value stays text.
# (6) DROP ROLE of a job's owner while the job waits on an advisory lock
#     held by the test: (a) launcher is a superuser that launched after SET
#     ROLE (two jobs: one inserts and then reads current_user, one only
#     inserts); (b) launcher is the dropped role itself (two jobs, the same
#     two kinds).  DROP ROLE succeeds (the role owns nothing; its privileges
#     come from a group role).  The job that reads current_user ends as
#     error 42704 "invalid role OID: <oid>" and its insert rolls back; the
#     job that only inserts ends as stopped and its row lands; the superuser
#     launcher waits for, inspects and reads both; the dropped role's own
#     session gets 42501 from the extension's functions, and its jobs still
#     run to their end.  No worker is left, the server does not crash.
#     Also: a role granted the privileges directly cannot be dropped while
#     the grants exist (2BP01).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 24
log_error_verbosity = verbose
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_alice LOGIN;
CREATE ROLE regress_bob LOGIN;
CREATE ROLE regress_other;               -- alice may SET ROLE to it
GRANT regress_other TO regress_alice;
CREATE ROLE regress_owner LOGIN;  -- a worker can be its session before 17 too
CREATE ROLE regress_caller LOGIN;
CREATE ROLE regress_bg;                  -- a group holding the privileges
SELECT grant_pg_background_privileges(r)
  FROM unnest(ARRAY['regress_alice', 'regress_bob', 'regress_other',
                    'regress_owner', 'regress_caller', 'regress_bg']) r;
CREATE TABLE sec_handles (who text, pid int, cookie int8);
GRANT ALL ON sec_handles TO PUBLIC;
CREATE TABLE sec_t (id int, name text);
GRANT ALL ON sec_t TO regress_alice;
CREATE TABLE caller_only (x int);
GRANT SELECT ON caller_only TO regress_caller;
CREATE TABLE owner_only (x int);
GRANT SELECT ON owner_only TO regress_owner;
CREATE TABLE drop_t (who text);
GRANT INSERT, SELECT ON drop_t TO PUBLIC;
});
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# A psql session as a given role that goes on after errors.
sub session
{
	my ($user) = @_;
	return $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
}

# Run $sql in $s: "SQLSTATE message" of the first error, or "ok:<output>".
sub try
{
	my ($s, $sql) = @_;
	my ($out) = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return "$1 $2" if $err =~ /ERROR:  ([0-9A-Z]{5}): (.*)/;
	return "ok:$out";
}

my $locker = $node->background_psql('postgres');
my $wait_lock = sub {
	my ($pid) = @_;
	return $node->poll_query_until('postgres',
		"SELECT wait_event FROM pg_stat_activity WHERE pid = $pid", 'advisory');
};

# ---------------------------------------------------------------------------
# (1) Another session's job.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(501)');
my $alice = session('regress_alice');
is( try($alice, q{
INSERT INTO sec_handles
SELECT 'a_v2', (h).pid, (h).cookie
FROM (SELECT pg_background_launch_v2('SELECT 1 FROM pg_advisory_xact_lock(501)', 65536, 'sec_label') AS h) s}),
	'ok:', '(1) alice launches a v2 job and publishes its handle');
is( try($alice, q{
INSERT INTO sec_handles
SELECT 'a_v1', p, (SELECT cookie FROM pg_background_list() WHERE pid = p)
FROM (SELECT pg_background_launch('SELECT 42') AS p) s}),
	'ok:', '(1) alice launches a v1 job and publishes its PID');
my ($a_pid, $a_cookie) = split /\|/,
  $node->safe_psql('postgres', q{SELECT pid, cookie FROM sec_handles WHERE who = 'a_v2'});
ok($wait_lock->($a_pid), '(1) the v2 job waits on the lock');

my $P = q{(SELECT pid FROM sec_handles WHERE who = 'a_v2')};
my $C = q{(SELECT cookie FROM sec_handles WHERE who = 'a_v2')};
my $P1 = q{(SELECT pid FROM sec_handles WHERE who = 'a_v1')};
my $C1 = q{(SELECT cookie FROM sec_handles WHERE who = 'a_v1')};
my @foreign_calls = (
	"SELECT * FROM pg_background_result($P1) AS (x int)",
	"SELECT * FROM pg_background_result($P) AS (x int)",
	"SELECT * FROM pg_background_result_v2($P, $C) AS (x int)",
	"SELECT * FROM pg_background_result_v2($P1, $C1) AS (x int)",
	"SELECT pg_background_detach($P)",
	"SELECT pg_background_detach($P1)",
	"SELECT pg_background_detach_v2($P, $C)",
	"SELECT pg_background_cancel_v2($P, $C)",
	"SELECT pg_background_cancel_v2_grace($P, $C, 0)",
	"SELECT pg_background_wait_v2($P, $C)",
	"SELECT pg_background_wait_v2_timeout($P, $C, 0)",
	"SELECT * FROM pg_background_wait_any(ARRAY[ROW($P, $C)]::pg_background_handle[], 0)",
	"SELECT * FROM pg_background_get_progress_v2($P, $C)",
	"SELECT * FROM pg_background_outcome($P, $C)",
	"SELECT * FROM pg_background_outcome($P1, $C1)");
my %second = (
	'another session of the same role' => session('regress_alice'),
	'a session of another role' => session('regress_bob'));
for my $who (sort keys %second)
{
	my $s = $second{$who};
	# The other session has a job of its own, so it has a job table.
	like(try($s, q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 7')) AS (x int)}),
		qr/^ok:7$/, "(1) $who runs a job of its own");
	for my $sql (@foreign_calls)
	{
		my $fn = ($sql =~ /(pg_background_\w+)\(/)[0];
		like(try($s, $sql), qr/^42704 .* is not attached to this session$/,
			"(1) $who: $fn on alice's job -> 42704");
	}
	is(try($s, q{SELECT pg_background_cancel_label('sec_label', 0)}),
		'ok:0', "(1) $who: cancel_label cancels nothing");
	is(try($s, "SELECT count(*) FROM pg_background_jobs WHERE pid IN ($P, $P1)"),
		'ok:0', "(1) $who: alice's jobs are not in pg_background_jobs");
	is( try($s, "SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool) WHERE pid IN ($P, $P1)"),
		'ok:0', "(1) $who: nor in list_v2");
}
is(try($alice, "SELECT state FROM pg_background_outcome($P, $C)"),
	'ok:running', "(1) alice's job still runs after the other sessions' attempts");
$locker->query_safe('SELECT pg_advisory_unlock(501)');
is(try($alice, "SELECT * FROM pg_background_result_v2($P, $C) AS (x int)"),
	'ok:1', '(1) alice reads her v2 job');
is(try($alice, "SELECT * FROM pg_background_result($P1) AS (x int)"),
	'ok:42', '(1) alice reads her v1 job');
$_->quit for values %second;

# ---------------------------------------------------------------------------
# (2) The same session after SET ROLE to an unrelated role.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_lock(502)');
my ($j_pid, $j_cookie) = split /\|/,
  $alice->query_safe(q{SELECT * FROM pg_background_launch_v2('SELECT 1 FROM pg_advisory_xact_lock(502)', 65536, 'sec_label')});
my $v1_pid = $alice->query_safe(q{SELECT pg_background_launch('SELECT 43')});
ok($wait_lock->($j_pid), '(2) the job waits on the lock');
is(try($alice, 'SET ROLE regress_other'), 'ok:', '(2) SET ROLE regress_other');
my @own_calls = (
	"SELECT * FROM pg_background_result($v1_pid) AS (x int)",
	"SELECT * FROM pg_background_result($j_pid) AS (x int)",
	"SELECT * FROM pg_background_result_v2($j_pid, $j_cookie) AS (x int)",
	"SELECT pg_background_detach($j_pid)",
	"SELECT pg_background_detach($v1_pid)",
	"SELECT pg_background_detach_v2($j_pid, $j_cookie)",
	"SELECT pg_background_cancel_v2($j_pid, $j_cookie)",
	"SELECT pg_background_cancel_v2_grace($j_pid, $j_cookie, 0)",
	"SELECT pg_background_wait_v2($j_pid, $j_cookie)",
	"SELECT pg_background_wait_v2_timeout($j_pid, $j_cookie, 0)",
	"SELECT * FROM pg_background_wait_any(ARRAY[ROW($j_pid, $j_cookie)]::pg_background_handle[], 0)",
	"SELECT * FROM pg_background_get_progress_v2($j_pid, $j_cookie)",
	"SELECT * FROM pg_background_outcome($j_pid, $j_cookie)");
for my $sql (@own_calls)
{
	my $fn = ($sql =~ /(pg_background_\w+)\(/)[0];
	like(try($alice, $sql),
		qr/^42501 permission denied for background worker with PID \d+$/,
		"(2) after SET ROLE: $fn -> 42501");
}
is(try($alice, q{SELECT pg_background_cancel_label('sec_label', 0)}),
	'ok:0', '(2) after SET ROLE: cancel_label cancels nothing');
is(try($alice, 'SELECT count(*) FROM pg_background_jobs'),
	'ok:0', '(2) after SET ROLE: no job in pg_background_jobs');
is( try($alice, 'SELECT count(*) FROM pg_background_list_v2() AS (pid int4, cookie int8, launched_at timestamptz, user_id oid, queue_size int4, state text, sql_preview text, last_error text, consumed bool)'),
	'ok:0', '(2) after SET ROLE: no job in list_v2');
is(try($alice, 'RESET ROLE'), 'ok:', '(2) RESET ROLE');
is(try($alice, "SELECT state FROM pg_background_jobs WHERE pid = $j_pid"),
	'ok:running', '(2) after RESET ROLE the job is listed, still running');
$locker->query_safe('SELECT pg_advisory_unlock(502)');
is(try($alice, "SELECT * FROM pg_background_result_v2($j_pid, $j_cookie) AS (x int)"),
	'ok:1', '(2) and readable');
is(try($alice, "SELECT * FROM pg_background_result($v1_pid) AS (x int)"),
	'ok:43', '(2) the v1 job too');

# ---------------------------------------------------------------------------
# (3) SECURITY DEFINER.
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', q{
CREATE FUNCTION sd_run(q text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE r text;
BEGIN
    SELECT x INTO r FROM pg_background_result(pg_background_launch(q)) AS (x text);
    RETURN r;
END $$;
CREATE FUNCTION sd_launch() RETURNS int
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT pg_background_launch('SELECT 1')
$$;
ALTER FUNCTION sd_run(text) OWNER TO regress_owner;
ALTER FUNCTION sd_launch() OWNER TO regress_owner;
REVOKE ALL ON FUNCTION sd_run(text), sd_launch() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sd_run(text), sd_launch() TO regress_caller;
});
my $caller = session('regress_caller');
is(try($caller, q{SELECT sd_run('SELECT current_user::text')}),
	'ok:regress_owner', '(3) the job runs as the function owner');
is(try($caller, q{SELECT sd_run('SELECT session_user::text')}),
	'ok:regress_owner', "(3) its session user is the owner too");
is(try($caller, q{SELECT sd_run('SELECT count(*)::text FROM owner_only')}),
	'ok:0', "(3) it can read what the owner can read");
like(try($caller, q{SELECT sd_run('SELECT count(*)::text FROM caller_only')}),
	qr/^42501 permission denied for table caller_only$/,
	"(3) it cannot read a table only the caller can read");
is(try($caller, q{SELECT count(*) FROM caller_only}),
	'ok:0', '(3) (which the caller can read itself)');
like(try($caller, q{SELECT sd_run('SET ROLE regress_caller; SELECT current_user::text')}),
	qr/^42501 permission denied to set role "regress_caller"$/,
	'(3) SET ROLE inside the job -> 42501');
is(try($caller, q{SELECT sd_run('RESET ROLE; SELECT current_user::text')}),
	'ok:regress_owner', '(3) RESET ROLE inside the job stays with the owner');
like(try($caller, q{SELECT sd_run('SET SESSION AUTHORIZATION regress_caller; SELECT current_user::text')}),
	qr/^42501 permission denied to set session authorization "regress_caller"$/,
	'(3) SET SESSION AUTHORIZATION inside the job -> 42501');
like(try($caller, q{SELECT sd_run($$SELECT set_config('role', 'regress_caller', false)$$)}),
	qr/^42501 permission denied to set role "regress_caller"$/,
	'(3) set_config(role) inside the job -> 42501');
like(try($caller, q{SELECT sd_run('BEGIN; SET LOCAL ROLE regress_caller; SELECT current_user::text; COMMIT')}),
	qr/^42501 /, '(3) SET LOCAL ROLE inside the job -> 42501');
like(try($caller, q{SELECT * FROM pg_background_result(sd_launch()) AS (x int)}),
	qr/^42501 permission denied for background worker with PID \d+$/,
	"(3) a job the function launched belongs to the owner: the caller cannot read it");
is(try($caller, q{SELECT count(*) FROM pg_background_jobs}),
	'ok:0', "(3) nor see it");
$caller->quit;

# ---------------------------------------------------------------------------
# (4) SET ROLE, SET SESSION AUTHORIZATION and superuser-only settings in a
# non-superuser's job.
# ---------------------------------------------------------------------------
sub job
{
	my ($s, $sql, $coldef) = @_;
	$sql =~ s/'/''/g;
	return try($s, "SELECT * FROM pg_background_result(pg_background_launch('$sql')) AS "
		  . ($coldef // '(x text)'));
}
like(job($alice, 'SET ROLE regress_bob; SELECT current_user::text'),
	qr/^42501 permission denied to set role "regress_bob"$/,
	'(4) SET ROLE to a role alice is not a member of -> 42501');
like(job($alice, 'SET ROLE postgres; SELECT current_user::text'),
	qr/^42501 permission denied to set role "postgres"$/,
	'(4) SET ROLE postgres -> 42501');
like(job($alice, 'SET SESSION AUTHORIZATION regress_bob; SELECT current_user::text'),
	qr/^42501 permission denied to set session authorization( "regress_bob")?$/,
	'(4) SET SESSION AUTHORIZATION regress_bob -> 42501');
like(job($alice, 'SET SESSION AUTHORIZATION postgres; SELECT current_user::text'),
	qr/^42501 permission denied to set session authorization( "postgres")?$/,
	'(4) SET SESSION AUTHORIZATION postgres -> 42501');
is(job($alice, 'SET ROLE regress_other; SELECT current_user::text'),
	'ok:regress_other', '(4) SET ROLE to a role alice is a member of works');
is(job($alice, 'SET SESSION AUTHORIZATION regress_alice; SELECT current_user::text'),
	'ok:regress_alice', '(4) SET SESSION AUTHORIZATION to herself works');
is(job($alice, q{SELECT current_user::text || ' ' || session_user || ' ' || (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)}),
	'ok:regress_alice regress_alice false', '(4) the job runs as alice, not a superuser');
like(job($alice, q{SET session_replication_role = replica; SELECT current_setting('session_replication_role')}),
	qr/^42501 permission denied to set parameter "session_replication_role"$/,
	'(4) SET session_replication_role = replica -> 42501');
like(job($alice, q{SELECT set_config('session_replication_role', 'replica', false)}),
	qr/^42501 permission denied to set parameter "session_replication_role"$/,
	'(4) set_config(session_replication_role) -> 42501');
like(job($alice, q{ALTER SYSTEM SET work_mem = '1MB'}),
	qr/^42501 /, '(4) ALTER SYSTEM -> 42501');
like(job($alice, q{SET log_statement = 'none'}),
	qr/^42501 permission denied to set parameter "log_statement"$/,
	'(4) SET log_statement -> 42501');
# Settings the launcher has are the job's, and no more: a superuser-only
# setting the launcher cannot set cannot appear in the job either.
is(try($alice, q{SET application_name = 'alice_app'; SET work_mem = '1234kB'}), 'ok:',
	'(4) alice sets user settings');
is(job($alice, q{SELECT current_setting('work_mem') || ' ' || current_setting('session_replication_role')}),
	'ok:1234kB origin', '(4) the job has them, and session_replication_role stays origin');
is(try($alice, 'SET ROLE regress_other'), 'ok:', '(4) alice: SET ROLE regress_other');
is(job($alice, 'SELECT current_user::text'), 'ok:regress_other',
	'(4) a job launched after SET ROLE runs as that role');
is(job($alice, 'RESET ROLE; SELECT current_user::text'), 'ok:regress_alice',
	'(4) and RESET ROLE in it returns to alice, no further');
is(try($alice, 'RESET ROLE'), 'ok:', '(4) alice: RESET ROLE');

# ---------------------------------------------------------------------------
# (5) Parameters carry data, not SQL.
# ---------------------------------------------------------------------------
my $evil = q{'); DROP TABLE sec_t; --};
is( try($alice, q{SELECT id, name FROM pg_background_result(pg_background_launch('INSERT INTO sec_t VALUES ($1, $2) RETURNING *', 65536, 42, $$'); DROP TABLE sec_t; --$$)) AS (id int, name text)}),
	"ok:42|$evil", '(5) v1: the string is inserted as data');
is( try($alice, q{SELECT * FROM pg_background_launch_v2('INSERT INTO sec_t VALUES ($1, $2); INSERT INTO sec_t VALUES ($1 + 1, $2)', 65536, NULL, 43, $$'); DROP TABLE sec_t; --$$) \gset
SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (r text)}),
	"ok:INSERT 0 1\nINSERT 0 1", '(5) v2: both statements use the parameters');
is( try($alice, q{SELECT * FROM pg_background_submit_v2('INSERT INTO sec_t VALUES ($1, $2)', 65536, NULL, 45, $$'; DROP TABLE sec_t; --$$) \gset
SELECT pg_background_wait_v2(:pid, :cookie);
SELECT state FROM pg_background_outcome(:pid, :cookie)}),
	"ok:\nstopped", '(5) submit_v2: same');
is(try($alice, q{SELECT * FROM pg_background_result(pg_background_launch('SELECT $1 || $2', 65536, '$2', 'x')) AS (x text)}),
	'ok:$2x', '(5) "$2" inside a value is not substituted');
like(try($alice, q{SELECT * FROM pg_background_result(pg_background_launch('SELECT * FROM $1', 65536, 'sec_t')) AS (x text)}),
	qr/^42601 syntax error/, '(5) a parameter cannot stand for a table name');
is( $node->safe_psql('postgres', q{SELECT string_agg(id || '=' || name, ',' ORDER BY id) FROM sec_t}),
	"42=$evil,43=$evil,44=$evil,45='; DROP TABLE sec_t; --",
	'(5) the table survives with the strings in it');

# ---------------------------------------------------------------------------
# (6) DROP ROLE of a job's owner while the job runs.
# ---------------------------------------------------------------------------
# A role granted the privileges directly cannot be dropped while it has them.
$node->safe_psql('postgres', q{CREATE ROLE regress_direct; SELECT grant_pg_background_privileges('regress_direct')});
my ($ret, $out, $err) = $node->psql('postgres', 'DROP ROLE regress_direct',
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  2BP01: role "regress_direct" cannot be dropped because some objects depend on it/,
	'(6) a role granted the privileges directly cannot be dropped (2BP01)');
$node->safe_psql('postgres', q{SELECT revoke_pg_background_privileges('regress_direct'); DROP ROLE regress_direct});

$node->safe_psql('postgres', q{
CREATE ROLE regress_dropme LOGIN IN ROLE regress_bg;
CREATE ROLE regress_dropme2 LOGIN IN ROLE regress_bg;
});

# (6a) A superuser launches two jobs after SET ROLE regress_dropme, then
# RESET ROLE: one inserts and then asks for current_user, one only inserts.
my $dropme_oid = $node->safe_psql('postgres', q{SELECT oid FROM pg_roles WHERE rolname = 'regress_dropme'});
$locker->query_safe('SELECT pg_advisory_lock(601)');
my $su = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
my %dj;
for my $j (qw(a1 a2))
{
	my $tail = $j eq 'a1' ? '; SELECT current_user::text' : '';
	@{ $dj{$j} } = split /\|/, $su->query_safe(qq{
SET ROLE regress_dropme;
SELECT * FROM pg_background_launch_v2(\$\$INSERT INTO drop_t SELECT '$j' FROM pg_advisory_xact_lock(601)$tail\$\$);
RESET ROLE});
	ok($wait_lock->($dj{$j}[0]), "(6a) job $j of regress_dropme waits on the lock");
}
($ret, $out, $err) = $node->psql('postgres', 'DROP ROLE regress_dropme');
is($ret, 0, '(6a) DROP ROLE regress_dropme succeeds while its jobs run');
$locker->query_safe('SELECT pg_advisory_unlock(601)');
# What each job is expected to end as: its outcome (state|sqlstate|message),
# what result_v2 says, and how many rows it left in drop_t.
my %dj_expect = (
	a1 => [
		"ok:error|42704|invalid role OID: $dropme_oid",
		"42704 invalid role OID: $dropme_oid", 0
	],
	a2 => [ 'ok:stopped||', 'ok:INSERT 0 1', 1 ]);
for my $j (qw(a1 a2))
{
	my ($pid, $cookie) = @{ $dj{$j} };
	my ($outcome, $result, $landed) = @{ $dj_expect{$j} };
	is(try($su, "SELECT pg_background_wait_v2($pid, $cookie)"), 'ok:',
		"(6a) $j: wait_v2 returns (no hang)");
	is(try($su, "SELECT state, sqlstate, message FROM pg_background_outcome($pid, $cookie)"),
		$outcome, "(6a) $j: the superuser sees its outcome ($outcome)");
	is(try($su, "SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)"),
		$result, "(6a) $j: the superuser reads its result ($result)");
	is($node->safe_psql('postgres', "SELECT count(*) FROM drop_t WHERE who = '$j'"),
		$landed, "(6a) $j: $landed row(s) of its insert landed");
}

# (6b) The dropped role launched the jobs itself: b1 inserts and then asks
# for current_user, b2 only inserts.
my $dropme2_oid = $node->safe_psql('postgres', q{SELECT oid FROM pg_roles WHERE rolname = 'regress_dropme2'});
$locker->query_safe('SELECT pg_advisory_lock(602)');
my $dropme2 = session('regress_dropme2');
my %bj;
for my $j (qw(b1 b2))
{
	my $tail = $j eq 'b1' ? '; SELECT current_user::text' : '';
	@{ $bj{$j} } = split /\|/, $dropme2->query_safe(qq{
SELECT * FROM pg_background_launch_v2(\$\$INSERT INTO drop_t SELECT '$j' FROM pg_advisory_xact_lock(602)$tail\$\$)});
	ok($wait_lock->($bj{$j}[0]), "(6b) job $j of regress_dropme2 waits on the lock");
}
($ret, $out, $err) = $node->psql('postgres', 'DROP ROLE regress_dropme2');
is($ret, 0, '(6b) DROP ROLE regress_dropme2 succeeds while it is connected and its jobs run');
my ($b_pid, $b_cookie) = @{ $bj{b1} };
is( try($dropme2, "SELECT state FROM pg_background_outcome($b_pid, $b_cookie)"),
	'42501 permission denied for function pg_background_outcome',
	"(6b) the dropped role's session lost EXECUTE on outcome (42501)");
$locker->query_safe('SELECT pg_advisory_unlock(602)');
for my $j (qw(b1 b2))
{
	my $pid = $bj{$j}[0];
	ok( $node->poll_query_until(
			'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0'),
		"(6b) job $j ended");
}
is( try($dropme2, "SELECT pg_background_wait_v2($b_pid, $b_cookie)"),
	'42501 permission denied for function pg_background_wait_v2',
	"(6b) the dropped role's wait_v2 returns at once with 42501 (no hang)");
is( try($dropme2, "SELECT * FROM pg_background_result_v2($b_pid, $b_cookie) AS (x text)"),
	'42501 permission denied for function pg_background_result_v2',
	"(6b) the dropped role's result_v2 returns at once with 42501 (no hang)");
is( $node->safe_psql('postgres', q{SELECT string_agg(who, ',' ORDER BY who) FROM drop_t WHERE who LIKE 'b%'}),
	'b2', '(6b) the job that only inserted committed; the one that read current_user did not');
like(
	slurp_file($node->logfile),
	qr/ERROR:  42704: invalid role OID: $dropme2_oid/,
	"(6b) job b1 failed with 42704 invalid role OID (server log)");
$dropme2->quit;
$su->quit;

ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'}, '0'),
	'no pg_background worker is left');
$alice->quit;
$locker->quit;

# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$start_time, 'the server never restarted');
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no process was terminated by a signal');
unlike($log, qr/\bPANIC:/, 'no PANIC');
unlike($log, qr/all server processes terminated/, 'no crash and restart');

done_testing();
