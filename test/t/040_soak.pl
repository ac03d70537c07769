# Soak: many mixed jobs from several concurrent sessions.
#
# PGBG_SOAK_COUNT operations (default 1000; bench/soak.sh runs 10000), each
# drawn by a seeded PRNG (PGBG_SOAK_SEED, printed) from:
#   (a) launch + result of a SELECT (v1, v2, params, a 64-byte queue with a
#       multi-row result, wait_any over two jobs): the value is checked;
#   (b) launch + detach of an INSERT of a unique key (v1, v2, params);
#   (c) launch_v2 of a job that inserts a key and then blocks (pg_sleep, or
#       an advisory lock held by the test), canceled with
#       cancel_v2_grace(..., 200) or cancel_label(..., 200): its state is
#       'canceled', result_v2 says 57014, its insert never lands;
#   (d) a failing job, read with result (v1) or wait_v2 + outcome +
#       result_v2 (v2): division by zero 22012, unique violation 23505,
#       RAISE P0001, RAISE with the custom SQLSTATE AB123: the caller gets
#       exactly that SQLSTATE (and outcome shows it);
#   (e) submit_v2 of an INSERT (with a bound parameter), wait_v2, outcome
#       ('stopped', 'INSERT 0 1'), sometimes result_v2 (55000), detach_v2.
# How each canceled job ended (57014: the SIGINT stopped it; 57P01: it was
# terminated after the grace period, which happens when a worker is slow to
# start under load) is printed, not asserted.
# The operations are spread over 4 psql sessions running at the same time,
# each executing a generated script (one statement per line, ON_ERROR_STOP
# off, VERBOSITY verbose), so every error is tied to its line and checked.
#
# At the end: no pg_background worker is left; every detached and
# submitted insert landed exactly once; no canceled insert landed; every
# expected error came with its SQLSTATE and no other error happened; each
# session's pg_background_stats_v2 counts its launches, failures and
# cancels; no slot exhaustion (53000) happened (max_worker_processes = 40);
# the server log shows no crash, no PANIC, no failed DSM mapping.
#
# Then a leak check in one session: 2 x 1100 launch + result; once past
# 1024 consumed jobs the session remembers exactly 1024, its
# "pg_background session" memory stays flat, and it keeps no job segment
# mapped; then 1100 reads that fail while their job still runs: all fail
# with 42804 (no 53000 "too many dynamic shared memory segments") and the
# launcher does not keep their segments mapped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $count = $ENV{PGBG_SOAK_COUNT} // 1000;
my $seed = $ENV{PGBG_SOAK_SEED} // int(rand(2**31));
my $nsessions = 4;
diag("soak: $count operations over $nsessions sessions, seed $seed (set PGBG_SOAK_SEED to replay)");
srand($seed);

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq{
max_worker_processes = 40
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
max_connections = 30
log_statement = none
log_error_verbosity = verbose
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_background;
CREATE TABLE soak_detached (k int);   -- no unique key: duplicates must show
CREATE TABLE soak_submitted (k int);
CREATE TABLE soak_canceled (k int);
CREATE TABLE soak_unique (k int PRIMARY KEY);
INSERT INTO soak_unique VALUES (1);
CREATE TABLE soak_expected (what text, k int);
});
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# The lock the (c) jobs of the advisory flavour block on, held throughout.
my $locker = $node->background_psql('postgres',
	timeout => $PostgreSQL::Test::Utils::timeout_default + $count);
$locker->query_safe('SELECT pg_advisory_lock(4242)');

# ---------------------------------------------------------------------------
# Generate one script per session.
# ---------------------------------------------------------------------------
my $dir = $node->basedir;    # kept when the test fails
my (@lines, @expect_err, @expect_out, @stats);
for my $s (0 .. $nsessions - 1)
{
	$lines[$s] = [];
	$expect_err[$s] = {};    # line number -> SQLSTATE
	$expect_out[$s] = {};    # "tag:id" -> value
	$stats[$s] = { launched => 0, failed => 0, canceled => 0, consumed => 0 };
}
my %kinds;
my (@exp_detached, @exp_submitted);
my $expected_errors = 0;

# Add a line to session $s's script; returns its line number.
sub add
{
	my ($s, $line, $sqlstate) = @_;
	push @{ $lines[$s] }, $line;
	my $n = scalar @{ $lines[$s] };
	if (defined $sqlstate)
	{
		$expect_err[$s]{$n} = $sqlstate;
		$expected_errors++;
	}
	return $n;
}

my @failing = (
	[ '22012', q{SELECT 1/0}, 'x int' ],
	[ '23505', q{INSERT INTO soak_unique VALUES (1)}, 'r text' ],
	[ 'P0001', q{DO $b$BEGIN RAISE EXCEPTION 'soak failure %', %ID%; END$b$}, 'r text' ],
	[ 'AB123', q{DO $b$BEGIN RAISE EXCEPTION USING ERRCODE = 'AB123', MESSAGE = 'custom %ID%'; END$b$}, 'r text' ],
);

for my $id (1 .. $count)
{
	my $s = int(rand($nsessions));
	my $st = $stats[$s];
	my $r = rand();
	my $kind = $r < 0.25 ? 'a' : $r < 0.45 ? 'b' : $r < 0.55 ? 'c' : $r < 0.80 ? 'd' : 'e';
	my $flavour;
	if ($kind eq 'a')
	{
		$flavour = int(rand(5));
		my $v = int(rand(1_000_000));
		if ($flavour == 0)
		{
			add($s, "SELECT 'a:$id:' || x FROM pg_background_result(pg_background_launch('SELECT $v')) AS (x int);");
			$expect_out[$s]{"a:$id"} = $v;
		}
		elsif ($flavour == 1)
		{
			add($s, "SELECT * FROM pg_background_launch_v2('SELECT ${v}::int8') \\gset");
			add($s, "SELECT 'a:$id:' || x FROM pg_background_result_v2(:pid, :cookie) AS (x int8);");
			$expect_out[$s]{"a:$id"} = $v;
		}
		elsif ($flavour == 2)
		{
			my $n = 1 + int(rand(3000));
			my $sum = $n * ($n + 1) / 2;
			add($s, "SELECT 'a:$id:' || count(*) || ':' || sum(g) FROM pg_background_result(pg_background_launch('SELECT g FROM generate_series(1, $n) g', 64)) AS (g int);");
			$expect_out[$s]{"a:$id"} = "$n:$sum";
		}
		elsif ($flavour == 3)
		{
			add($s, "SELECT * FROM pg_background_launch_v2('SELECT $v') \\gset h1_");
			add($s, "SELECT * FROM pg_background_launch_v2('SELECT $v + 1') \\gset h2_");
			add($s, "SELECT 'a:$id:' || ((pg_background_wait_any(ARRAY[ROW(:h1_pid, :h1_cookie), ROW(:h2_pid, :h2_cookie)]::pg_background_handle[])).pid IN (:h1_pid, :h2_pid));");
			add($s, "SELECT 'a:$id:b:' || (SELECT x FROM pg_background_result_v2(:h1_pid, :h1_cookie) AS (x int)) + (SELECT x FROM pg_background_result_v2(:h2_pid, :h2_cookie) AS (x int));");
			$expect_out[$s]{"a:$id"} = 'true';
			$expect_out[$s]{"a:$id:b"} = 2 * $v + 1;
			$st->{launched}++;
			$st->{consumed}++;
		}
		else
		{
			add($s, "SELECT 'a:$id:' || x FROM pg_background_result(pg_background_launch('SELECT \$1::int * 2', 65536, $v)) AS (x int);");
			$expect_out[$s]{"a:$id"} = 2 * $v;
		}
		$st->{launched}++;
		$st->{consumed}++;
	}
	elsif ($kind eq 'b')
	{
		$flavour = int(rand(3));
		if ($flavour == 0)
		{
			add($s, "SELECT pg_background_detach(pg_background_launch('INSERT INTO soak_detached VALUES ($id)'));");
		}
		elsif ($flavour == 1)
		{
			add($s, "SELECT * FROM pg_background_launch_v2('INSERT INTO soak_detached VALUES ($id)') \\gset");
			add($s, "SELECT pg_background_detach_v2(:pid, :cookie);");
		}
		else
		{
			add($s, "SELECT pg_background_detach(pg_background_launch('INSERT INTO soak_detached VALUES (\$1)', 65536, $id));");
		}
		push @exp_detached, $id;
		$st->{launched}++;
	}
	elsif ($kind eq 'c')
	{
		$flavour = int(rand(3));
		my $block = $flavour == 1 ? 'SELECT pg_advisory_xact_lock(4242)' : 'SELECT pg_sleep(60)';
		add($s, "SELECT * FROM pg_background_launch_v2('INSERT INTO soak_canceled VALUES ($id); $block', 65536, 'soak_c_$id') \\gset");
		if ($flavour == 2)
		{
			add($s, "SELECT 'c:$id:n:' || pg_background_cancel_label('soak_c_$id', 200);");
			$expect_out[$s]{"c:$id:n"} = 1;
		}
		else
		{
			add($s, "SELECT pg_background_cancel_v2_grace(:pid, :cookie, 200);");
		}
		add($s, "SELECT 'c:$id:' || state FROM pg_background_outcome(:pid, :cookie);");
		add($s, "SELECT 'cs:' || coalesce(sqlstate, 'none') FROM pg_background_outcome(:pid, :cookie);");
		add($s, "SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (r text);", '57014');
		add($s, "SELECT pg_background_detach_v2(:pid, :cookie);");
		$expect_out[$s]{"c:$id"} = 'canceled';
		$st->{launched}++;
		$st->{canceled}++;
	}
	elsif ($kind eq 'd')
	{
		$flavour = int(rand(2));
		my ($sqlstate, $sql, $coldef) = @{ $failing[ int(rand(@failing)) ] };
		$sql =~ s/%ID%/$id/g;
		if ($flavour == 0)
		{
			add($s, "SELECT * FROM pg_background_result(pg_background_launch(\$j\$$sql\$j\$)) AS ($coldef);", $sqlstate);
		}
		else
		{
			add($s, "SELECT * FROM pg_background_launch_v2(\$j\$$sql\$j\$) \\gset");
			add($s, "SELECT pg_background_wait_v2(:pid, :cookie);");
			add($s, "SELECT 'd:$id:' || state || ':' || sqlstate FROM pg_background_outcome(:pid, :cookie);");
			add($s, "SELECT * FROM pg_background_result_v2(:pid, :cookie) AS ($coldef);", $sqlstate);
			$expect_out[$s]{"d:$id"} = "error:$sqlstate";
		}
		$kind .= $sqlstate;
		$st->{launched}++;
		$st->{failed}++;
		$st->{consumed}++;
	}
	else
	{
		$flavour = 0;
		add($s, "SELECT * FROM pg_background_submit_v2('INSERT INTO soak_submitted VALUES (\$1)', 65536, 'soak_e', $id) \\gset");
		add($s, "SELECT pg_background_wait_v2(:pid, :cookie);");
		add($s, "SELECT 'e:$id:' || state || ':' || command_tag FROM pg_background_outcome(:pid, :cookie);");
		add($s, "SELECT * FROM pg_background_result_v2(:pid, :cookie) AS (r text);", '55000')
		  if rand() < 0.3;
		add($s, "SELECT pg_background_detach_v2(:pid, :cookie);");
		$expect_out[$s]{"e:$id"} = 'stopped:INSERT 0 1';
		push @exp_submitted, $id;
		$st->{launched}++;
	}
	$kinds{"$kind/$flavour"}++;
}
for my $s (0 .. $nsessions - 1)
{
	add($s, "SELECT 'stats:' || workers_launched || ':' || workers_failed || ':' || workers_canceled || ':' || workers_active FROM pg_background_stats_v2();");
	add($s, "SELECT 'list:' || count(*) FROM pg_background_list();");
	my $st = $stats[$s];
	$expect_out[$s]{stats} = "$st->{launched}:$st->{failed}:$st->{canceled}:0";
	$expect_out[$s]{list} = $st->{consumed} < 1024 ? $st->{consumed} : 1024;
}
note('operation mix: ' . join(', ', map { "$_=$kinds{$_}" } sort keys %kinds));

$node->safe_psql('postgres',
	'INSERT INTO soak_expected VALUES '
	  . join(',', (map { "('detached', $_)" } @exp_detached), (map { "('submitted', $_)" } @exp_submitted), "('none', 0)"));

# ---------------------------------------------------------------------------
# Run the sessions concurrently.
# ---------------------------------------------------------------------------
my @files;
for my $s (0 .. $nsessions - 1)
{
	my $f = "$dir/session$s.sql";
	open my $fh, '>', $f or die "$f: $!";
	print $fh "$_\n" for @{ $lines[$s] };
	close $fh;
	push @files, $f;
}

my $t0 = time();
my @runs;
{
	local %ENV = %ENV;
	$ENV{PGHOST} = $node->host;
	$ENV{PGPORT} = $node->port;
	for my $s (0 .. $nsessions - 1)
	{
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[
				$node->installed_command('psql'), '-XAtq', '-d', 'postgres',
				'-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose',
				'-f', $files[$s]
			],
			'>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default + $count));
		push @runs, [ $h, \$out, \$err ];
	}
	$_->[0]->finish for @runs;
}
my $elapsed = time() - $t0;
diag(sprintf('soak: %d operations in %.1f s (%.1f ops/s)', $count, $elapsed, $count / $elapsed));

# ---------------------------------------------------------------------------
# Check each session's output.
# ---------------------------------------------------------------------------
my (%seen_states, %cancel_states);
my ($errors_ok, $errors_missing, $errors_unexpected, $slot_exhaustion) = (0, 0, 0, 0);
my ($out_ok, $out_bad) = (0, 0);
for my $s (0 .. $nsessions - 1)
{
	my ($h, $out, $err) = @{ $runs[$s] };
	is($h->full_result(0), 0, "session $s: psql exited normally");
	my $file = $files[$s];
	my %got_err;
	for my $l (split /\n/, $$err)
	{
		if ($l =~ /^psql:\Q$file\E:(\d+): (ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): (.*)$/)
		{
			$got_err{$1} = "$3 $4";
			$slot_exhaustion++ if $3 eq '53000';
			$seen_states{$3}++;
		}
		elsif ($l =~ /^psql:.*(?:FATAL|PANIC|connection|server closed)/i)
		{
			$got_err{0} = $l;
			fail("session $s: $l");
		}
	}
	for my $n (sort { $a <=> $b } keys %{ $expect_err[$s] })
	{
		my $want = $expect_err[$s]{$n};
		if (!defined $got_err{$n})
		{
			$errors_missing++;
			diag("session $s line $n: expected $want, got no error: $lines[$s][$n-1]");
		}
		elsif (substr($got_err{$n}, 0, 5) ne $want)
		{
			$errors_missing++;
			diag("session $s line $n: expected $want, got $got_err{$n}: $lines[$s][$n-1]");
		}
		else
		{
			$errors_ok++;
		}
	}
	for my $n (sort { $a <=> $b } keys %got_err)
	{
		next if defined $expect_err[$s]{$n};
		$errors_unexpected++;
		diag("session $s line $n: unexpected error $got_err{$n}: "
			  . ($n > 0 ? $lines[$s][$n-1] : ''));
	}

	my %got_out;
	for my $l (split /\n/, $$out)
	{
		$got_out{"$1"} = $2 if $l =~ /^([a-e]:\d+(?::[a-z])?|stats|list):(.*)$/;
		$cancel_states{$1}++ if $l =~ /^cs:(.*)$/;
	}
	for my $k (sort keys %{ $expect_out[$s] })
	{
		my $want = $expect_out[$s]{$k};
		my $got = $got_out{$k};
		if (defined $got && $got eq $want)
		{
			$out_ok++;
		}
		else
		{
			$out_bad++;
			diag("session $s $k: expected '$want', got '" . ($got // '(nothing)') . "'");
		}
	}
}
note('SQLSTATEs reported: ' . join(', ', map { "$_=$seen_states{$_}" } sort keys %seen_states));
# 57014: the SIGINT stopped the job; 57P01: it was terminated after the grace.
note('outcome SQLSTATEs of the canceled jobs: ' . join(', ', map { "$_=$cancel_states{$_}" } sort keys %cancel_states));
is($errors_missing, 0, "every expected error came with its SQLSTATE ($errors_ok of $expected_errors)");
is($errors_ok, $expected_errors, 'count of expected errors reported');
is($errors_unexpected, 0, 'no unexpected error');
is($slot_exhaustion, 0, 'no launch ran out of worker slots (53000)');
is($out_bad, 0, "every result, state and counter was as expected ($out_ok checked)");

# ---------------------------------------------------------------------------
# What landed.
# ---------------------------------------------------------------------------
$locker->query_safe('SELECT pg_advisory_unlock(4242)');
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'}, '0'),
	'no pg_background worker remains');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*), count(DISTINCT k) FROM soak_detached}),
	scalar(@exp_detached) . '|' . scalar(@exp_detached),
	'every detached insert landed exactly once (count, no duplicates)');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  (SELECT k FROM soak_detached EXCEPT SELECT k FROM soak_expected WHERE what = 'detached')
  UNION ALL
  (SELECT k FROM soak_expected WHERE what = 'detached' EXCEPT SELECT k FROM soak_detached)) d}),
	'0', 'the detached inserts are exactly the expected keys');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*), count(DISTINCT k) FROM soak_submitted}),
	scalar(@exp_submitted) . '|' . scalar(@exp_submitted),
	'every submitted insert landed exactly once (count, no duplicates)');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  (SELECT k FROM soak_submitted EXCEPT SELECT k FROM soak_expected WHERE what = 'submitted')
  UNION ALL
  (SELECT k FROM soak_expected WHERE what = 'submitted' EXCEPT SELECT k FROM soak_submitted)) d}),
	'0', 'the submitted inserts are exactly the expected keys');
is($node->safe_psql('postgres', 'SELECT count(*) FROM soak_canceled'),
	'0', 'no canceled job committed its insert');
is($node->safe_psql('postgres', 'SELECT count(*) FROM soak_unique'),
	'1', 'the unique-violation jobs inserted nothing');

# ---------------------------------------------------------------------------
# Leak check: one session, 2 x 1100 launch + result.
# ---------------------------------------------------------------------------
my $leaker = $node->background_psql('postgres');
my $backend_pid = $leaker->query_safe('SELECT pg_backend_pid()');
# The session context and its children.  PostgreSQL 18 replaced the parent
# column of pg_backend_memory_contexts with path (context IDs from the top,
# this context's own last; level counts from 1).
my $ctx_sql = $node->pg_version >= 18
  ? q{WITH c AS MATERIALIZED (SELECT * FROM pg_backend_memory_contexts),
s AS (SELECT level, path[level] AS id FROM c WHERE name = 'pg_background session')
SELECT coalesce(sum(c.total_bytes), 0) FROM c, s
WHERE c.path[s.level] = s.id AND c.level <= s.level + 1}
  : q{SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
WHERE name = 'pg_background session' OR parent = 'pg_background session'};
my $batch = q{DO $$ BEGIN FOR i IN 1..1100 LOOP
  IF (SELECT x FROM pg_background_result(pg_background_launch('SELECT ' || i)) AS (x int)) <> i THEN
    RAISE EXCEPTION 'wrong result';
  END IF;
END LOOP; END $$};

# Segments of our jobs this backend has mapped (Linux: posix DSM files).
sub mapped_segments
{
	my $maps = "/proc/$backend_pid/maps";
	return undef unless -r $maps;
	my %seg;
	for (split /\n/, slurp_file($maps))
	{
		$seg{$1} = 1 if m{/dev/shm/(PostgreSQL\.\d+)};
	}
	return scalar keys %seg;
}
my $maps_before = mapped_segments();
$leaker->query_safe($batch);
my $mem1 = $leaker->query_safe($ctx_sql);
is($leaker->query_safe('SELECT count(*) FROM pg_background_list()'),
	'1024', 'after 1100 consumed jobs the session remembers 1024');
$leaker->query_safe($batch);
my $mem2 = $leaker->query_safe($ctx_sql);
is($leaker->query_safe('SELECT count(*) FROM pg_background_list()'),
	'1024', 'after 2200 consumed jobs still 1024');
note("pg_background session memory: $mem1 bytes after 1100 jobs, $mem2 after 2200");
cmp_ok($mem2, '<=', $mem1, 'session memory stays flat once 1024 jobs are remembered');
SKIP:
{
	skip 'no /proc/PID/maps', 1 unless defined $maps_before;
	is(mapped_segments(), $maps_before, 'no job segment stays mapped in the launcher');
}

# The same with reads that fail while the job still runs (the description
# of its result set, sent before the job sleeps a little, does not match
# the column definition list): each read counts as consumed, the job goes
# on, and its segment must not stay mapped for ever.  1100 such reads in a
# row: every one must fail with 42804, none with 53000 ("too many dynamic
# shared memory segments", which a segment kept per job would cause well
# before 1024 jobs, and which would then hit every session of the server).
$leaker->query_safe(q{
CREATE TEMP TABLE failed_reads (code text);
DO $$ BEGIN FOR i IN 1..1100 LOOP
  BEGIN
    PERFORM * FROM pg_background_result(pg_background_launch('SELECT 1 FROM pg_sleep(0.02)')) AS (x text);
    INSERT INTO failed_reads VALUES ('ok');
  EXCEPTION WHEN OTHERS THEN
    INSERT INTO failed_reads VALUES (SQLSTATE);
  END;
END LOOP; END $$});
my $maps_after_failed = mapped_segments();
is( $leaker->query_safe(
		q{SELECT string_agg(code || '=' || n, ',') FROM (SELECT code, count(*) n FROM failed_reads GROUP BY 1 ORDER BY 1) s}),
	'42804=1100',
	'1100 reads that fail while their job runs all fail with 42804 (none runs out of DSM segments)');
SKIP:
{
	skip 'no /proc/PID/maps', 3 unless defined $maps_before;
	note("segments mapped after the failed reads: $maps_after_failed (baseline $maps_before)");
	cmp_ok($maps_after_failed, '<', $maps_before + 100,
		'the launcher does not keep the segments of jobs whose read failed');
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'}, '0'),
		'their workers have exited');
	$leaker->query_safe('SELECT count(*) FROM pg_background_list()');
	is(mapped_segments(), $maps_before,
		'once the workers have exited and the jobs were looked at, no segment is mapped');
}
$leaker->quit;

# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$start_time, 'the server never restarted');
$locker->quit;
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no process was terminated by a signal');
unlike($log, qr/\bPANIC:/, 'no PANIC');
unlike($log, qr/could not map dynamic shared memory segment/, 'no failed DSM mapping');
unlike($log, qr/could not map its shared memory segment/, 'no worker found its launcher gone');
unlike($log, qr/all server processes terminated/, 'no crash and restart');

done_testing();
