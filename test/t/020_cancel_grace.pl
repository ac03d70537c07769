# pg_background_cancel_v2_grace (and pg_background_cancel_v2) stop a job:
#
# (a)  a job sleeping in a long statement (pg_sleep(600));
# (b1) a job in a tight CPU loop in SQL (a count over a cross join);
# (b2) a job in a tight plpgsql LOOP;
# (c)  a job that catches query_canceled in a plpgsql loop and keeps going:
#      only the SIGTERM sent after the grace period stops it (57P01);
# (d)  the same job with pg_background_cancel_v2 (default grace, 1000 ms);
#      in (c), (d) and (e) the call takes at least the grace period and the
#      worker's recorded end (outcome finished_at) is more than the grace
#      period - 1 ms after the cancel statement started, and no sooner than
#      the grace period (see grace_kept): both measured by the server's
#      clock against statement_timestamp(), lower bounds that hold however
#      fast or slow the machine is;
# (e)  a job that waits for an advisory lock the canceling session holds,
#      and catches query_canceled: SIGINT, then SIGTERM after the grace
#      period (3 s, longer than deadlock_timeout), 57P01.
#
# Each job inserts a row and takes an advisory lock first, in the same
# transaction.  In each case we wait until the job really runs (its
# progress is published and pg_stat_activity shows it active with its
# query), then check that the call returns, that as soon as it has returned
# the worker is gone from pg_stat_activity and its lock is free (the call
# returns "once the worker has exited"), that the
# state is 'canceled' with the expected SQLSTATE, that the canceled job
# committed nothing, and at the end that the server log shows no crash
# (no "terminated by signal", no "server process" lines, no "all server
# processes terminated").
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('cancel_grace');
$node->init;
$node->append_conf('postgresql.conf', 'max_worker_processes = 16');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE t (i int);
});

my $s = $node->background_psql('postgres', on_error_stop => 0);

# In the launching session (handles belong to it): wait, with a deadline,
# until the job has published the given progress message.
sub wait_progress
{
	my ($pid, $cookie, $msg) = @_;
	my ($out, $err) = run_query($s, qq{
DO \$\$
DECLARE deadline timestamptz := clock_timestamp() + interval '180 s';
BEGIN
	WHILE (SELECT progress_msg IS DISTINCT FROM '$msg'
		   FROM pg_background_get_progress_v2($pid, $cookie)) LOOP
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'no progress "%" from the job', '$msg';
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END \$\$;
SELECT 'published'});
	return $err eq '' && $out =~ /published$/;
}

# The cancel statement $call ("SELECT pg_background_cancel_v2...(...)"),
# made to also say, when the job is to be terminated only after a grace
# period of $grace ms, whether the call took at least that long (measured
# inside the statement: a lower bound the cancel guarantees, whatever the
# machine's speed) and when the statement started.
sub cancel_timed
{
	my ($call, $grace) = @_;
	return $call unless defined $grace;
	return "SELECT 'waited:' || (clock_timestamp() - statement_timestamp() >= interval '$grace ms')"
	  . " || ',t0:' || statement_timestamp() FROM ($call OFFSET 0) c";
}

# After cancel_timed's statement printed $out: the call took at least the
# grace period, and the worker was terminated more than $grace - 1 ms after
# the call started (its outcome's finished_at, which the worker records as
# it handles the SIGTERM), and no sooner than $grace ms after it started,
# as reliability.md promises.
sub grace_kept
{
	my ($name, $out, $pid, $cookie, $grace) = @_;
	my ($waited, $t0) = $out =~ /^waited:(\w+),t0:(.*)$/m;
	is($waited, 'true', "$name: the cancel call took at least the grace period ($grace ms)");
	my ($o, $e) = run_query($s, qq{
SELECT finished_at - '$t0'::timestamptz > interval '$grace ms' - interval '1 ms',
	finished_at - '$t0'::timestamptz >= interval '$grace ms'
FROM pg_background_outcome($pid, $cookie)});
	my ($almost, $full) = split /\|/, "$o$e";
	is($almost, 't',
		"$name: the worker was terminated more than $grace - 1 ms after the cancel started");
	is($full, 't',
		"$name: the worker was terminated no sooner than $grace ms after the cancel started");
	return;
}

# Launch sql, wait until it runs, cancel it with $cancel_sql (pid and
# cookie substituted for %PID% and %COOKIE%), and check what the brief
# promises.  Returns (pid, cookie).
sub cancel_case
{
	my (%c) = @_;
	my $name = $c{name};
	my $lock = 3000 + $c{row};
	my $sql = "INSERT INTO t VALUES ($c{row});\n"
	  . "SELECT pg_advisory_xact_lock($lock);\n"
	  . $c{sql};

	my ($out, $err) = run_query($s, 
		"SELECT pid, cookie FROM pg_background_launch_v2(\$job\$$sql\$job\$)");
	is($err, '', "$name: launched");
	my ($pid, $cookie) = split /\|/, $out;

	ok(wait_progress($pid, $cookie, $c{ready}),
		"$name: the job published its progress");
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT state = 'active' AND query LIKE 'INSERT INTO t VALUES ($c{row});%' AND $c{activity}
FROM pg_stat_activity WHERE pid = $pid}),
		"$name: pg_stat_activity shows the job active in its statement");

	my $call = $c{cancel};
	$call =~ s/%PID%/$pid/g;
	$call =~ s/%COOKIE%/$cookie/g;
	my $t0 = time;
	($out, $err) = run_query($s, 
		cancel_timed($call, $c{grace}) . ";\nSELECT 'lock:' || pg_try_advisory_lock($lock);\n"
		  . "SELECT 'left:' || count(*) FROM pg_stat_activity WHERE pid = $pid;");
	my $elapsed = time - $t0;
	is($err, '', "$name: $c{cancel} returned without error");
	diag(sprintf("%s: the cancel call and the check took %.0f ms",
			$name, $elapsed * 1000));
	grace_kept($name, $out, $pid, $cookie, $c{grace}) if defined $c{grace};
	like($out, qr/left:\d+$/, "$name: checked pg_stat_activity right after the call");
	is(($out =~ /^lock:(\w+)$/m)[0], 'true',
		"$name: the job's lock is free when the call returns");
	is(($out =~ /left:(\d+)$/)[0], '0',
		"$name: the worker is gone from pg_stat_activity when the call returns");
	run_query($s, 'SELECT pg_advisory_unlock_all()');
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
		"$name: the worker exits");

	($out, $err) = run_query($s, 
		"SELECT state, sqlstate, message FROM pg_background_outcome($pid, $cookie)");
	is($err, '', "$name: outcome");
	is($out, "canceled|$c{sqlstate}|$c{message}",
		"$name: outcome is canceled with $c{sqlstate}");
	($out, $err) = run_query($s, 
		"SELECT state FROM pg_background_jobs WHERE pid = $pid AND cookie = $cookie");
	is($out, 'canceled', "$name: pg_background_jobs shows it canceled");
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM t WHERE i = $c{row}"),
		'0',
		"$name: the row the job inserted before the cancel was not committed");
	($out, $err) = run_query($s, 
		"SELECT * FROM pg_background_result_v2($pid, $cookie) AS (x text)");
	like($err, qr/ERROR:  background job with PID $pid was canceled/,
		"$name: result_v2 says the job was canceled");
	return ($pid, $cookie);
}

my $sigint_msg = 'canceling statement due to user request';
my $sigterm_msg =
  'terminating background worker "pg_background" due to administrator command';

# (a) sleeping in a long statement
cancel_case(
	name => '(a) pg_sleep',
	sql => q{SELECT pg_background_progress(1, 'sleeping');
SELECT pg_sleep(600)},
	ready => 'sleeping',
	activity => q{wait_event = 'PgSleep'},
	cancel => 'SELECT pg_background_cancel_v2_grace(%PID%, %COOKIE%, 60000)',
	sqlstate => '57014',
	message => $sigint_msg,
	row => 1);

# (b1) a tight CPU loop in SQL (about 10^10 rows; never ends by itself)
cancel_case(
	name => '(b1) CPU-bound query',
	sql => q{SELECT pg_background_progress(1, 'counting');
SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b},
	ready => 'counting',
	activity => 'wait_event IS NULL',
	cancel => 'SELECT pg_background_cancel_v2_grace(%PID%, %COOKIE%, 60000)',
	sqlstate => '57014',
	message => $sigint_msg,
	row => 2);

# (b2) a tight plpgsql loop
cancel_case(
	name => '(b2) plpgsql LOOP',
	sql => q{DO $do$
DECLARE n bigint := 0;
BEGIN
	PERFORM pg_background_progress(1, 'looping');
	LOOP
		n := n + 1;
	END LOOP;
END $do$},
	ready => 'looping',
	activity => 'wait_event IS NULL',
	cancel => 'SELECT pg_background_cancel_v2_grace(%PID%, %COOKIE%, 60000)',
	sqlstate => '57014',
	message => $sigint_msg,
	row => 3);

# (c) and (d): a job that catches query_canceled and goes on.  It reports
# each cancel it caught; it only ever runs inside the protected block once
# it has said it is ready, so the one SIGINT is always caught.
my $stubborn = q{DO $do$
DECLARE caught int := 0;
BEGIN
	LOOP
		BEGIN
			PERFORM pg_background_progress(1, format('ready, caught %s', caught));
			LOOP
				PERFORM pg_sleep(0.01);
			END LOOP;
		EXCEPTION WHEN query_canceled THEN
			caught := caught + 1;
		END;
	END LOOP;
END $do$};

my ($pid, $cookie, $out, $err);
($pid, $cookie) = cancel_case(
	name => '(c) catches query_canceled, grace 500 ms',
	sql => $stubborn,
	ready => 'ready, caught 0',
	activity => q{wait_event = 'PgSleep'},
	cancel => 'SELECT pg_background_cancel_v2_grace(%PID%, %COOKIE%, 500)',
	grace => 500,
	sqlstate => '57P01',
	message => $sigterm_msg,
	row => 4);
($out, $err) = run_query($s, 
	"SELECT progress_msg FROM pg_background_get_progress_v2($pid, $cookie)");
is($out, 'ready, caught 1',
	'(c) the job caught the SIGINT and went on until the SIGTERM');

($pid, $cookie) = cancel_case(
	name => '(d) catches query_canceled, pg_background_cancel_v2',
	sql => $stubborn,
	ready => 'ready, caught 0',
	activity => q{wait_event = 'PgSleep'},
	cancel => 'SELECT pg_background_cancel_v2(%PID%, %COOKIE%)',
	grace => 1000,    # the documented default
	sqlstate => '57P01',
	message => $sigterm_msg,
	row => 5);
($out, $err) = run_query($s, 
	"SELECT progress_msg FROM pg_background_get_progress_v2($pid, $cookie)");
is($out, 'ready, caught 1',
	'(d) the job caught the SIGINT and went on until the SIGTERM');

# (e) The job waits for a lock this session holds, and catches the cancel.
# Canceling it cannot deadlock: after the grace period the worker is
# terminated, whatever it waits for.
my $name = '(e) waits for our lock, catches query_canceled, grace 3000 ms';
run_query($s, 'SELECT pg_advisory_lock(3100)');
($out, $err) = run_query($s, q{SELECT pid, cookie FROM pg_background_launch_v2($job$INSERT INTO t VALUES (6);
DO $do$
DECLARE caught int := 0;
BEGIN
	LOOP
		BEGIN
			PERFORM pg_background_progress(1, format('waiting, caught %s', caught));
			PERFORM pg_advisory_xact_lock(3100);
		EXCEPTION WHEN query_canceled THEN
			caught := caught + 1;
		END;
	END LOOP;
END $do$$job$)});
is($err, '', "$name: launched");
($pid, $cookie) = split /\|/, $out;
ok(wait_progress($pid, $cookie, 'waiting, caught 0'),
	"$name: the job published its progress");
ok( $node->poll_query_until(
		'postgres', qq{
SELECT state = 'active' AND wait_event_type = 'Lock' AND wait_event = 'advisory'
FROM pg_stat_activity WHERE pid = $pid}),
	"$name: the job waits for the lock");
($out, $err) = run_query($s, 
	cancel_timed("SELECT pg_background_cancel_v2_grace($pid, $cookie, 3000)", 3000) . ";\n"
	  . "SELECT 'left:' || count(*) FROM pg_stat_activity WHERE pid = $pid;");
is($err, '', "$name: pg_background_cancel_v2_grace returned without error");
grace_kept($name, $out, $pid, $cookie, 3000);
is(($out =~ /left:(\d+)$/)[0], '0',
	"$name: the worker is gone from pg_stat_activity when the call returns");
($out, $err) = run_query($s, 
	"SELECT state, sqlstate, message FROM pg_background_outcome($pid, $cookie)");
is($out, "canceled|57P01|$sigterm_msg", "$name: outcome is canceled with 57P01");
($out, $err) = run_query($s, 
	"SELECT progress_msg FROM pg_background_get_progress_v2($pid, $cookie)");
is($out, 'waiting, caught 1',
	"$name: the job caught the SIGINT and went on until the SIGTERM");
# Clean up whatever the cancel left behind.
run_query($s, 'SELECT pg_advisory_unlock_all()');
($out, $err) = run_query($s, 
	"SELECT state = 'running' FROM pg_background_outcome($pid, $cookie)");
run_query($s, "SELECT pg_background_cancel_v2_grace($pid, $cookie, 0)")
  if $out eq 't';
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	"$name: the worker exits");
is($node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE i = 6'),
	'0', "$name: the row the job inserted was not committed");

# The session counted the six cancels.
($out, $err) = run_query($s, 
	'SELECT workers_launched, workers_canceled, workers_active FROM pg_background_stats_v2()');
is($out, '6|6|0', 'stats: 6 launched, 6 canceled, none active');

# The session is still usable, and nothing crashed.
($out, $err) = run_query($s, 
	q{SELECT x FROM pg_background_launch_v2('SELECT 42 AS x') h, pg_background_result_v2(h.pid, h.cookie) AS (x int)});
is($out, '42', 'the session still launches and reads jobs');

$s->quit;
$node->stop;

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'log: no process terminated by a signal');
unlike($log, qr/server process/, 'log: no "server process" crash lines');
unlike($log, qr/all server processes terminated/,
	'log: no "all server processes terminated"');
like($log, qr/exited with exit code 1/,
	'log: the canceled workers exited normally (exit code 1)');

done_testing();
