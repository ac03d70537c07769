
# Copyright: see LICENSE.
#
# The job lifecycle of the shared directory (lifecycle.c), on a node with
# shared_preload_libraries = 'pg_background', the pool on (pool_size = 4) and
# dynamic_shared_memory_type = mmap, so that the node's DSM segments are the
# files of its pg_dynshmem directory and can be counted.
#
# 1. A queued job is never handed to the worker that launched it: with
#    max_workers_per_role = 1, a submitted job launches a child job (which
#    is queued behind its parent); four times in a row, the child ends
#    'stopped' and its row is there (the parent's worker exits instead of
#    parking with the child's segment mapped).
# 2. A launch that raises an error has run nothing: 60 launches of
#    INSERT INTO t2 VALUES (i), each under statement_timeout = (i % 12) + 1
#    ms (the job itself runs without one); a launch that returned leaves its
#    job in the session (none is detached), whether or not its statement
#    failed afterwards.  Once every worker is gone, every job of the session
#    has ended 'stopped', no job of a failed launch did, and t2 holds
#    exactly the values of the session's jobs, each once.  On this node
#    (directory, pool, then no pool) and on a node without preload.
# 3. No pinned segment outlives its job: with pg_background.test_fault =
#    'after_map' every worker dies (FATAL) right after mapping its segment,
#    before telling the directory.  With the pool off: (a) a job queued
#    behind a running one (its segment pinned for it) ends in 'error' with
#    SQLSTATE 08006; (b) a launch that starts at once fails with 53000;
#    with the pool on: (c) a job handed to a parked worker ends in 'error';
#    after each (and once the launcher let go of the job), the node's DSM
#    segment count returns to its baseline.
# 4. A role's share of the queue: max_total_workers = 1 and max_queued_per_role
#    = 2: a third queued job of the same role fails with 53000 ("too many
#    pg_background jobs of role"), while another role can still queue.
# 5. The bytes queued jobs take (max_queued_bytes, by their descriptions,
#    not their queues): 53000 beyond them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest;

my $node = PostgreSQL::Test::Cluster->new('lifecycle');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
# Segments as files (counted in pg_dynshmem), not in the main shared memory.
pg_background.dsm_reserve = 0
max_worker_processes = 16
dynamic_shared_memory_type = mmap
pg_background.pool_size = 4
pg_background.pool_idle_timeout = 3600
log_min_messages = log
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE ROLE regress_a LOGIN;
CREATE ROLE regress_b LOGIN;
SELECT grant_pg_background_privileges(r, false)
  FROM unnest(ARRAY['regress_a', 'regress_b']) r;
CREATE TABLE pub (a int);
});

# Nothing runs or waits any more on $n: with the directory, nothing is
# active (a job counts until its worker has ended it) or queued; without,
# no worker is left at all (there is no pool).
sub settled
{
	my ($n, $what, $directory) = @_;
	if ($directory)
	{
		ok( $n->poll_query_until(
				'postgres',
				'SELECT active, queued FROM pg_background_admission()', '0|0'),
			"$what: nothing active or queued in the directory");
	}
	else
	{
		ok( $n->poll_query_until(
				'postgres',
				q{SELECT count(*) FROM pg_stat_activity
				  WHERE backend_type = 'pg_background'},
				'0'),
			"$what: no pg_background worker is left");
	}
}

# ---------------------------------------------------------------------
# 1. A queued child is never handed to its parent's worker.
# ---------------------------------------------------------------------
set_guc($node, 'pg_background.max_workers_per_role', '1', '1');
for my $run (1 .. 4)
{
	my $child = "INSERT INTO pub VALUES ($run)";
	$node->safe_psql('postgres', qq{
SELECT * FROM pg_background_submit_v2(\$q\$SELECT pg_background_launch_v2('$child')\$q\$)});
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT string_agg(state || ':' || coalesce(sqlstate, ''), ',')
FROM pg_background_jobs WHERE sql_preview = '$child'},
			'stopped:'),
		"(1) run $run: the child job ended 'stopped'");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pub WHERE a = $run"),
		'1', "(1) run $run: the child's row is there");
}
settled($node, '(1)', 1);
set_guc($node, 'pg_background.max_workers_per_role', undef, '-1');

# ---------------------------------------------------------------------
# 2. A launch that raises an error has run nothing.
# ---------------------------------------------------------------------
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "max_worker_processes = 16\n");
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION pg_background');

# Helpers of each node.  pgbg_t_launch launches with no statement_timeout
# of its own (its SET clause is in effect at the call, so the job inherits
# 0): the few milliseconds of the calling statement, armed when it began,
# interrupt the launch, never the job's SQL, which would otherwise fail on
# its own timeout now and then on a busy machine, with the launch returned.
# pgbg_t_in_session says whether a listed job is one of this session's
# (detaching it; a job only the directory lists is refused with 55000).
my $helpers = q{
CREATE TABLE t2 (i int);
CREATE FUNCTION pgbg_t_launch(sql text) RETURNS int LANGUAGE sql
  SET statement_timeout = 0 AS $$SELECT pg_background_launch(sql)$$;
CREATE FUNCTION pgbg_t_in_session(p int, c bigint) RETURNS bool
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_background_detach_v2(p, c);
  RETURN true;
EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_object THEN
  RETURN false;
END $$;
};

# The directory node twice: pooled launches (too quick for most timeouts),
# then fresh workers only (pool_size = 0), which the timeouts do interrupt.
for my $run (
	[ $node, 'directory and pool', 0, 1000 ],
	[ $node, 'directory, no pool', 1, 2000 ],
	[ $plain, 'no preload', 1, 1000 ])
{
	my ($n, $mode, $must_interrupt, $base) = @$run;
	if ($mode eq 'directory, no pool')
	{
		set_guc($node, 'pg_background.pool_size', '0', '0');
	}
	else
	{
		$n->safe_psql('postgres', $helpers);
	}
	my @script;
	for my $i ($base + 1 .. $base + 60)
	{
		my $ms = ($i % 12) + 1;
		push @script, "SET statement_timeout = '${ms}ms';",
		  "SELECT $i, pgbg_t_launch('INSERT INTO t2 VALUES ($i)') > 0;",
		  "RESET statement_timeout;";
	}
	# (The last RESET may itself have been interrupted on a busy machine.)
	push @script, ('RESET statement_timeout;') x 5;
	my $s = launcher_session($n);
	my ($done, $stderr) = run_query($s, join("\n", @script));
	my %succeeded = map { $_ => 1 } ($done =~ /^(\d+)\|t$/mg);
	my $nfailed = () = $stderr =~ /ERROR:  57014/g;
	note(sprintf('(2) %s: %d launch statements succeeded, %d failed with 57014',
			$mode, scalar(keys %succeeded), $nfailed));
	cmp_ok($nfailed, '>', 0, "(2) $mode: some launches were interrupted")
	  if $must_interrupt;

	# Only once every worker is gone do the states say what ran.  A launch
	# that returned left its job in the session, whether or not its
	# statement failed afterwards; in the directory, a launch that failed is
	# listed too, but is not the session's.
	settled($n, "(2) $mode", $n == $node);
	my ($list) = run_query($s, q{
SELECT substring(sql_preview FROM '\((\d+)\)') || ' ' || state || ' ' ||
       pgbg_t_in_session(pid, cookie)
FROM pg_background_list() WHERE sql_preview LIKE 'INSERT INTO t2 %'});
	$s->quit;
	my (%returned, @unfinished, @failed_ran);
	for (split /\n/, $list)
	{
		my ($i, $state, $ours) = split / /;
		next if $i <= $base || $i > $base + 60;	# an earlier run's
		if ($ours eq 'true')
		{
			$returned{$i} = 1;
			push @unfinished, "$i:$state" if $state ne 'stopped';
		}
		elsif ($state eq 'stopped')
		{
			push @failed_ran, $i;
		}
	}
	note(sprintf('(2) %s: %d launches returned', $mode, scalar(keys %returned)));
	is(join(',', grep { !$returned{$_} } sort { $a <=> $b } keys %succeeded),
		'', "(2) $mode: every statement that succeeded left its job in the session");
	is(join(',', @unfinished), '',
		"(2) $mode: every job whose launch returned ran to its end");
	is(join(',', @failed_ran), '', "(2) $mode: no job of a failed launch ran");
	my $rows = $n->safe_psql('postgres', qq{
SELECT coalesce(string_agg(i::text, ',' ORDER BY i), '') FROM t2
WHERE i BETWEEN $base + 1 AND $base + 60});
	is($rows, join(',', sort { $a <=> $b } keys %returned),
		"(2) $mode: exactly the jobs whose launch returned ran, each once");
}
$plain->stop;

# ---------------------------------------------------------------------
# 3. No pinned segment outlives its job.
# ---------------------------------------------------------------------
set_guc($node, 'pg_background.max_total_workers', '1', '1');
set_guc($node, 'pg_background.pool_size', '0', '0');
ok( $node->poll_query_until(
		'postgres', 'SELECT pool_idle FROM pg_background_admission()', '0'),
	'(3) no worker is parked');
my $baseline = dsm_count($node);
note("(3) baseline: $baseline DSM segments");
my $locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(4242)');
my ($bpid, $bcookie) = split /\|/,
  $node->safe_psql('postgres', q{
SELECT pid, cookie FROM pg_background_submit_v2(
  'SELECT pg_advisory_lock_shared(4242)')});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity
		  WHERE backend_type = 'pg_background' AND wait_event = 'advisory'},
		'1'),
	'(3a) a job holds the only worker place');
my ($qpid, $qcookie) = split /\|/,
  $node->safe_psql('postgres',
	q{SELECT pid, cookie FROM pg_background_submit_v2('INSERT INTO pub VALUES (100)')});
cmp_ok($qpid, '<', 0, '(3a) the second job is queued');
set_guc($node, 'pg_background.test_fault', q{'after_map'}, 'after_map');
$locker->query_safe('SELECT pg_advisory_unlock(4242)');
ok( $node->poll_query_until(
		'postgres',
		"SELECT state || ':' || sqlstate FROM pg_background_outcome($qpid, $qcookie)",
		'error:08006'),
	'(3a) the queued job whose worker died after mapping ends in error 08006');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pub WHERE a = 100'),
	'0', '(3a) it ran nothing');
settled($node, '(3a)', 1);
dsm_back_to($node, $baseline, '(3a)');

my $s = launcher_session($node);
my ($out, $err) = run_query($s,
	q{SELECT pg_background_launch_v2('INSERT INTO pub VALUES (101)')});
like($err, qr/ERROR:  53000: could not start background process/,
	'(3b) a launch whose worker dies after mapping fails with 53000');
settled($node, '(3b)', 1);
dsm_back_to($node, $baseline, '(3b)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pub WHERE a = 101'),
	'0', '(3b) it ran nothing');

# (c) A parked worker: park one first (the fault off), then hand it a job.
set_guc($node, 'pg_background.test_fault', q{''}, '');
set_guc($node, 'pg_background.pool_size', '4', '4');
($out, $err) = run_query($s,
	q{SELECT * FROM pg_background_result(pg_background_launch('SELECT 1')) AS (x int)});
is($err, '', '(3c) a job ran');
ok( $node->poll_query_until(
		'postgres', 'SELECT pool_idle FROM pg_background_admission()', '1'),
	'(3c) its worker is parked');
$baseline = dsm_count($node);
set_guc($node, 'pg_background.test_fault', q{'after_map'}, 'after_map');
($out, $err) = run_query($s,
	q{SELECT pid, cookie FROM pg_background_launch_v2('INSERT INTO pub VALUES (102)')});
is($err, '', '(3c) the launch handed to the parked worker returned');
my ($ppid, $pcookie) = split /\|/, $out;
ok( $node->poll_query_until(
		'postgres',
		"SELECT state FROM pg_background_outcome($ppid, $pcookie)", 'error'),
	'(3c) the job ends in error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pub WHERE a = 102'),
	'0', '(3c) it ran nothing');
($out, $err) = run_query($s, "SELECT pg_background_detach_v2($ppid, $pcookie)");
settled($node, '(3c)', 1);
dsm_back_to($node, $baseline, '(3c)');
set_guc($node, 'pg_background.test_fault', undef, '');
$s->quit;

# ---------------------------------------------------------------------
# 4. A role's share of the queue.
# ---------------------------------------------------------------------
set_guc($node, 'pg_background.max_queued_per_role', '2', '2');
$locker->query_safe('SELECT pg_advisory_lock(4243)');
$node->safe_psql('postgres', q{
SELECT pg_background_detach_v2(pid, cookie)
FROM pg_background_launch_v2('SELECT pg_advisory_lock_shared(4243)')});
ok( $node->poll_query_until(
		'postgres', 'SELECT active FROM pg_background_admission()', '1'),
	'(4) a job holds the only worker place');
my $a = launcher_session($node);
run_query($a, 'SET ROLE regress_a');
for my $k (1 .. 2)
{
	($out, $err) = run_query($a,
		q{SELECT pid < 0 FROM pg_background_submit_v2('SELECT 1')});
	is("$out$err", 't', "(4) regress_a queued job $k");
}
($out, $err) = run_query($a,
	q{SELECT pid FROM pg_background_submit_v2('SELECT 1')});
like(
	$err,
	qr/ERROR:  53000: too many pg_background jobs of role "regress_a" are queued/,
	'(4) regress_a\'s third queued job fails with 53000');
my $b = launcher_session($node);
run_query($b, 'SET ROLE regress_b');
($out, $err) = run_query($b,
	q{SELECT pid < 0 FROM pg_background_submit_v2('SELECT 1')});
is("$out$err", 't', '(4) regress_b can still queue a job');
$locker->query_safe('SELECT pg_advisory_unlock(4243)');
settled($node, '(4)', 1);
$a->quit;
$b->quit;
$locker->quit;
set_guc($node, 'pg_background.max_queued_per_role', undef, '250');

# ---------------------------------------------------------------------
# 5. The bytes queued jobs take: max_total_workers = 1 (a job holds the
#    place) and max_queued_bytes = 1 MB.  A queued job takes the bytes of
#    its description (SQL, settings, parameters), not of its result queue:
#    three jobs with 16 MB queues wait; two jobs of 400 kB of SQL wait
#    beside them; a third of those fails with 53000 (it would exceed the
#    1 MB), and so does a v1 launch of it; all the queued ones run once the
#    place is free, the refused ones never.
# ---------------------------------------------------------------------
set_guc($node, 'pg_background.max_queued_bytes', q{'1MB'}, '1MB');
$locker = $node->background_psql('postgres');
$locker->query_safe('SELECT pg_advisory_lock(4244)');
$node->safe_psql('postgres', q{
SELECT pg_background_detach_v2(pid, cookie)
FROM pg_background_launch_v2('SELECT pg_advisory_lock_shared(4244)')});
ok( $node->poll_query_until(
		'postgres', 'SELECT active FROM pg_background_admission()', '1'),
	'(5) a job holds the only worker place');
$s = launcher_session($node);
for my $k (1 .. 3)
{
	($out, $err) = run_query($s,
		qq{SELECT pid < 0 FROM pg_background_submit_v2('INSERT INTO pub VALUES (51$k)', 16777216)});
	is("$out$err", 't', "(5) queued job $k with a 16 MB queue");
}
for my $k (1 .. 2)
{
	($out, $err) = run_query($s,
		qq{SELECT pid < 0 FROM pg_background_submit_v2('INSERT INTO pub VALUES (50$k) -- ' || repeat('x', 409600))});
	is("$out$err", 't', "(5) queued job $k with 400 kB of SQL");
}
($out, $err) = run_query($s,
	q{SELECT pid FROM pg_background_submit_v2('INSERT INTO pub VALUES (503) -- ' || repeat('x', 409600))});
like(
	$err,
	qr/ERROR:  53000: queued pg_background jobs reserve too much shared memory\nDETAIL:  The jobs waiting for a worker take \d+ bytes \(their SQL, settings and parameters\); one more would exceed pg_background.max_queued_bytes \(1024 kB\)\./,
	'(5) a third job of 400 kB fails with 53000');
($out, $err) = run_query($s,
	q{SELECT pg_background_launch('INSERT INTO pub VALUES (504) -- ' || repeat('x', 409600))});
like($err, qr/ERROR:  53000: queued pg_background jobs reserve too much shared memory/,
	'(5) so does a v1 launch of it');
is($node->safe_psql('postgres', 'SELECT queued FROM pg_background_admission()'),
	'5', '(5) the refused launches queued nothing');
$locker->query_safe('SELECT pg_advisory_unlock(4244)');
settled($node, '(5)', 1);
is($node->safe_psql('postgres',
		'SELECT string_agg(a::text, \',\' ORDER BY a) FROM pub WHERE a > 500'),
	'501,502,511,512,513', '(5) the queued jobs ran, the refused ones did not');
$s->quit;
$locker->quit;
set_guc($node, 'pg_background.max_queued_bytes', undef, '256MB');

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC:|terminated by signal/,
	'no assertion failure, PANIC or crash in the log');

$node->stop;
done_testing();
