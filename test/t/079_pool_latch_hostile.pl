# The warm pool's latches under hostile signals and races (pool.c: a parked
# worker sleeps on its slot's own latch, MyLatch points at it while parked
# so that signal handlers wake it there, the hand-over sets it once the
# directory's lock is released, and an exiting worker takes its process
# latch back and disowns the slot's).  On a node with
# shared_preload_libraries = 'pg_background', pool_size = 2 and
# pool_idle_timeout = 3600: a parked worker that misses a wake-up sleeps
# for up to an hour, so every "promptly" below is a poll with a deadline
# far shorter than that.  "Parked long" means: idle in pg_stat_activity for
# more than 300 ms, past the pool's first (100 ms) sleep, in the long one.
# Every job is run by a psql call with a timeout.
#
# 1. pg_terminate_backend of a worker parked long: it leaves
#    pg_stat_activity within 30 s; the next job runs on another worker,
#    which parks; two jobs at once then both park (pool_idle = 2: the
#    terminated worker's place and its slot's latch were given back, and a
#    new worker could own that latch).
# 2. pg_cancel_backend of a worker P parked long: the signal reaches P (its
#    count of voluntary context switches, /proc/P/status, grows within
#    30 s), P is still parked, and the next two jobs run on P without error
#    (the cancel is dropped: no spurious 57014 for them).
# 3. A reload while two workers are parked long (ALTER SYSTEM
#    pg_background.pool_size = 1, work_mem, log_autovacuum_min_duration):
#    one of them leaves within 30 s, with no job handed to either (so it
#    applied the reload while parked); a job on the other one, P, reads the
#    new values; P parks again and the next job runs on P (it noted its
#    settings afresh); the same after ALTER SYSTEM RESET.
# 4. The launcher ends right after handing a job to P: a session launches
#    (v2) a job on P and terminates itself in the same statement;
#    (a) a job blocked on an advisory lock until the launcher is gone, and
#    (b) one that runs at once: each job's row shows up exactly once,
#    written by P, and P parks again and takes the next job.
# 5. DROP DATABASE ... WITH (FORCE) of a database in which a worker Q is
#    parked long (it must exit on SIGTERM) while P is parked long in
#    postgres (it must answer the drop's ProcSignalBarrier): the drop
#    succeeds within 60 s, Q is gone, and the next job runs on P.
# 6. Chaos (seed PGBG_LATCH_SEED, printed; PGBG_LATCH_JOBS jobs per session,
#    default 800): three sessions launch short jobs back to back (v1
#    launch + result, or v2 launch then result_v2), each inserting its id
#    into a table and returning id * 7, while a control session terminates
#    a random idle pg_background worker (parked, or handed a job it has not
#    started) every few milliseconds.  Every psql finishes within a
#    deadline; every job gives its right result (and then its row is there
#    once) or one of the documented errors (53000 for a job whose worker
#    left before it started it, 57P01/08006 for a worker terminated while
#    it ran the job), never both, and never two rows; nothing is left
#    active or queued; two jobs at once then both park (no place lost).
# 7. pool_idle_timeout lowered to 1 s by reload while workers are parked
#    long: every pg_background worker leaves within 30 s; after RESET the
#    next job's worker parks again.
# 8. kill -9 of a worker P parked long: the server restarts (crash
#    recovery); a job runs, its worker parks, pg_terminate_backend of it
#    works as in 1, and two jobs at once both park.
# 9. The server log shows no TRAP, no PANIC, and no process terminated by
#    a signal but the worker killed in 8.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PgbgTest qw(:DEFAULT pool_node pool_session wait_parked poll_until
  script_new script_add script_write script_read_log);
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);

plan skip_all => 'needs /proc/<pid>/status' unless -r "/proc/$$/status";

my $start_time = time;
# Seconds any single psql call or wait may take (60, or less if
# PG_TEST_TIMEOUT_DEFAULT says so).
my $T = $PostgreSQL::Test::Utils::timeout_default < 60
  ? $PostgreSQL::Test::Utils::timeout_default : 60;
my $njobs = $ENV{PGBG_LATCH_JOBS} // 800;
my $seed = $ENV{PGBG_LATCH_SEED} // (int(time() * 1000) ^ $$) % 2147483647;
my $tag = "[latch seed $seed]";
note("pool latch hostile: seed $seed, $njobs jobs per chaos session");
srand($seed);

my $node = pool_node('pool_latch',
	max_worker_processes => 16,
	dbs => ['latch_db'],
	conf => [ 'restart_after_crash = on' ]);
$node->safe_psql('postgres', q{
CREATE TABLE lg (pid int, what text);
CREATE TABLE ch (id int);   -- no unique key: a duplicate must show
GRANT SELECT, INSERT ON lg, ch TO PUBLIC;
});

# ---------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------

# Run $sql as a job (v1 launch + result, column definitions $coldef) from a
# new session on $db (default postgres), with a timeout.  Returns (stdout,
# stderr); a timeout shows as stderr 'TIMEOUT'.
sub job
{
	my ($sql, $coldef, $db) = @_;
	(my $lit = $sql) =~ s/'/''/g;
	my $timed_out;
	my ($ret, $out, $err) = $node->psql(
		$db // 'postgres',
		"SELECT * FROM pg_background_result(pg_background_launch('$lit')) AS ($coldef)",
		extra_params => [ '-v', 'VERBOSITY=verbose' ],
		timeout => $T,
		timed_out => \$timed_out);
	return ($out // '', $timed_out ? 'TIMEOUT' : $err);
}

# The pid of the worker that runs a job (says so as a test named $what).
sub job_pid
{
	my ($what, $db) = @_;
	my ($out, $err) = job('SELECT pg_backend_pid()', 'p int', $db);
	is($err, '', "$what: ran without error");
	return $out =~ /^\d+$/ ? $out : undef;
}

# Wait until $pid is a parked worker, idle for more than 300 ms (past the
# pool's first, 100 ms, sleep: in the long one).
sub parked_long
{
	my ($pid, $what) = @_;
	return ok(
		defined $pid && poll_until($node, qq{
SELECT count(*) FROM pg_stat_activity
WHERE pid = $pid AND backend_type = 'pg_background' AND state = 'idle'
  AND now() - state_change > interval '300 ms'}, '1', $T),
		"$what: worker " . ($pid // 'undef') . ' is parked (idle for a while)');
}

# Is $pid a parked worker now?
sub is_parked
{
	my ($pid) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM pg_stat_activity
WHERE pid = $pid AND backend_type = 'pg_background' AND state = 'idle'});
}

# A process's count of voluntary context switches (each wake-up is one);
# undef once it is gone.
sub switches
{
	my ($pid) = @_;
	open my $f, '<', "/proc/$pid/status" or return undef;
	my $v;
	while (my $l = <$f>)
	{
		$v = $1 if $l =~ /^voluntary_ctxt_switches:\s+(\d+)/;
	}
	close $f;
	return $v;
}

# Wait until $pid has woken up since it counted $before switches.
sub woke
{
	my ($pid, $before, $what) = @_;
	my $deadline = time + 30;
	my $now;
	while (time < $deadline)
	{
		$now = switches($pid);
		last if !defined $now || $now > $before;
		select(undef, undef, undef, 0.02);
	}
	return ok(defined $now && $now > $before,
		"$what worker $pid woke up (context switches $before -> "
		  . ($now // 'gone') . ')');
}

# Wait until $pid has left pg_stat_activity.
sub gone
{
	my ($pid, $what) = @_;
	return ok(
		poll_until($node,
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0', 30),
		"$what: worker $pid is gone within 30 s");
}

# Two jobs at once (blocked on an advisory lock held by the test, then
# released), then both their workers park: the pool has its two places.
sub two_park
{
	my ($what, $lock) = @_;
	my $locker = pool_session($node);
	$locker->query_safe("SELECT pg_advisory_lock($lock)");
	my $s = pool_session($node);
	my @h;
	for (1 .. 2)
	{
		my ($o, $e) = run_query($s, qq{
SELECT pid, cookie FROM pg_background_launch_v2(
  'SELECT pg_backend_pid() FROM pg_advisory_xact_lock_shared($lock)')});
		push @h, [ split /\|/, $o ];
	}
	ok( poll_until($node, qq{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND wait_event = 'advisory'}, '2', $T),
		"$what: two jobs run at once");
	$locker->query_safe("SELECT pg_advisory_unlock($lock)");
	$locker->quit;
	my @pids;
	# A result that never comes ends the session (its query timer): a
	# failed check, not the end of the test.
	my $read = eval {
		for my $h (@h)
		{
			my ($o, $e) = run_query($s,
				"SELECT * FROM pg_background_result_v2($h->[0], $h->[1]) AS (p int)");
			push @pids, $o;
		}
		$s->quit;
		1;
	};
	ok($read, "$what: both results came back") or diag($@);
	ok(@pids == 2 && $pids[0] =~ /^\d+$/ && $pids[1] =~ /^\d+$/
		  && $pids[0] != $pids[1],
		"$what: on two workers (@pids)") or return;
	ok( poll_until($node, qq{
SELECT count(*) FROM pg_stat_activity
WHERE pid IN ($pids[0], $pids[1]) AND state = 'idle'}, '2', $T)
		  && poll_until($node,
			'SELECT pool_idle FROM pg_background_admission()', '2', $T),
		"$what: both park (pool_idle = 2)");
	return @pids;
}

my ($out, $err, $P, $P2, $before);

# ---------------------------------------------------------------------------
# 1. pg_terminate_backend of a parked worker.
# ---------------------------------------------------------------------------
$P = job_pid('(1) first job');
parked_long($P, '(1)');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($P)"),
	't', '(1) pg_terminate_backend of the parked worker');
gone($P, '(1) terminated while parked');
$P2 = job_pid('(1) next job');
isnt($P2, $P, '(1) the next job ran on another worker');
parked_long($P2, '(1) the next job\'s worker parks');
two_park('(1) after the termination', 101);

# ---------------------------------------------------------------------------
# 2. pg_cancel_backend of a parked worker.
# ---------------------------------------------------------------------------
$P = job_pid('(2) first job');
parked_long($P, '(2)');
$before = switches($P);
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($P)"),
	't', '(2) pg_cancel_backend of the parked worker');
woke($P, $before, '(2) the cancel reached it:');
is(is_parked($P), '1', '(2) it is still parked');
for my $n (1, 2)
{
	($out, $err) = job('SELECT pg_backend_pid(), 40 + 2', 'p int, v int');
	is($err, '', "(2) job $n after the cancel: no error (no spurious cancel)");
	is($out, "$P|42", "(2) job $n after the cancel ran on the same worker");
	parked_long($P, "(2) after job $n") if $n == 1;
}

# ---------------------------------------------------------------------------
# 3. A reload while parked.
# ---------------------------------------------------------------------------
my $settings_sql = q{SELECT pg_backend_pid(), current_setting('work_mem'),
  current_setting('log_autovacuum_min_duration')};
my $settings_def = 'p int, w text, l text';
my ($def_wm, $def_lav) = split /\|/, $node->safe_psql('postgres',
	q{SELECT current_setting('work_mem'), current_setting('log_autovacuum_min_duration')});
# Two workers parked long (P and the other one of part 1).
ok(poll_until($node, 'SELECT pool_idle FROM pg_background_admission()', '2', $T),
	'(3) two workers are parked');
my @two = split /\n/, $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND state = 'idle' ORDER BY pid});
parked_long($_, '(3) before the reload') for @two;
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_background.pool_size = 1;
ALTER SYSTEM SET work_mem = '7777kB';
ALTER SYSTEM SET log_autovacuum_min_duration = '4321ms';
SELECT pg_reload_conf();
});
# Only a worker that applies the reload while parked can see the pool
# shrink (no job is handed to either meanwhile).
ok( poll_until($node, q{
SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'},
		'1', 30),
	'(3) pool_size 2 -> 1 by reload: one of the two parked workers leaves within 30 s');
($P) = split /\n/, $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background'});
$P //= 0;
is(is_parked($P), '1', "(3) the other one ($P) is still parked");
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET pg_background.pool_size;
SELECT pg_reload_conf();
});
ok($node->poll_query_until('postgres', 'SHOW pg_background.pool_size', '2'),
	'(3) pool_size is back to 2');
ok($node->poll_query_until('postgres', 'SHOW work_mem', '7777kB'),
	'(3) a new session sees the new work_mem');
($out, $err) = job($settings_sql, $settings_def);
is($err, '', '(3) a job after the reload ran');
is($out, "$P|7777kB|4321ms",
	'(3) on the parked worker, with the reloaded settings');
parked_long($P, '(3) it parks again');
($out, $err) = job($settings_sql, $settings_def);
is($out, "$P|7777kB|4321ms", '(3) and takes the next job (still reused)');
parked_long($P, '(3) before the second reload');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET work_mem;
ALTER SYSTEM RESET log_autovacuum_min_duration;
SELECT pg_reload_conf();
});
ok($node->poll_query_until('postgres', 'SHOW work_mem', $def_wm),
	'(3) work_mem is back to its default');
($out, $err) = job($settings_sql, $settings_def);
is($out, "$P|$def_wm|$def_lav",
	'(3) after RESET, a job on the same worker sees the defaults');
parked_long($P, '(3) it parks again after RESET');

# ---------------------------------------------------------------------------
# 4. The launcher ends right after the hand-over.
# ---------------------------------------------------------------------------
my $locker = pool_session($node);
$locker->query_safe('SELECT pg_advisory_lock(401)');
my ($ret, $o4, $e4) = $node->psql('postgres', q{
SELECT pg_terminate_backend(pg_backend_pid())
FROM pg_background_launch_v2(
  'INSERT INTO lg SELECT pg_backend_pid(), ''a'' FROM pg_advisory_xact_lock_shared(401)')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ],
	timeout => $T);
like($e4, qr/57P01|terminating connection/,
	'(4a) the launcher terminated itself right after the launch');
ok( poll_until($node, qq{
SELECT count(*) FROM pg_stat_activity WHERE pid = $P AND wait_event = 'advisory'},
		'1', $T),
	'(4a) the parked worker took the job');
$locker->query_safe('SELECT pg_advisory_unlock(401)');
$locker->quit;
ok(poll_until($node, q{SELECT count(*) FROM lg WHERE what = 'a'}, '1', $T),
	'(4a) the job ran to its end without its launcher');
is($node->safe_psql('postgres', q{SELECT pid FROM lg WHERE what = 'a'}),
	$P, '(4a) on the parked worker');
parked_long($P, '(4a) the worker parks again');
($ret, $o4, $e4) = $node->psql('postgres', q{
SELECT pg_terminate_backend(pg_backend_pid())
FROM pg_background_launch_v2('INSERT INTO lg VALUES (pg_backend_pid(), ''b'')')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ],
	timeout => $T);
like($e4, qr/57P01|terminating connection/,
	'(4b) the launcher terminated itself right after the launch');
ok(poll_until($node, q{SELECT count(*) FROM lg WHERE what = 'b'}, '1', $T),
	'(4b) the job ran once');
is($node->safe_psql('postgres', q{SELECT pid FROM lg WHERE what = 'b'}),
	$P, '(4b) on the parked worker');
parked_long($P, '(4b) the worker parks again');
($out, $err) = job('SELECT pg_backend_pid()', 'p int');
is($out, $P, '(4) and takes the next job');
is($node->safe_psql('postgres', q{SELECT count(*) FROM lg}), '2',
	'(4) no job ran twice');

# ---------------------------------------------------------------------------
# 5. DROP DATABASE (FORCE) with parked workers.
# ---------------------------------------------------------------------------
# Room in the pool (pool_size 2) for a worker of latch_db: only P stays.
$node->safe_psql('postgres', qq{
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND pid <> $P});
ok( poll_until($node, q{
SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'},
		'1', 30),
	'(5) only the postgres worker is left in the pool');
my $Q = job_pid('(5) a job in latch_db', 'latch_db');
parked_long($Q, '(5) the latch_db worker');
parked_long($P, '(5) the postgres worker');
my $timed_out;
($ret, $out, $err) = $node->psql('postgres',
	'DROP DATABASE latch_db WITH (FORCE)',
	extra_params => [ '-v', 'VERBOSITY=verbose' ],
	timeout => $T,
	timed_out => \$timed_out);
ok(!$timed_out && defined $ret && $ret == 0,
	'(5) DROP DATABASE WITH (FORCE) succeeded with a worker parked in it')
  or diag("ret " . ($ret // 'undef') . ": $err");
gone($Q, '(5) the worker parked in the dropped database');
($out, $err) = job('SELECT pg_backend_pid()', 'p int');
is($out, $P, '(5) the worker parked in postgres takes the next job');

# ---------------------------------------------------------------------------
# 6. Chaos: launches from three sessions, terminations of idle workers.
# ---------------------------------------------------------------------------
my $nsessions = 3;
my @scripts = map { script_new() } 1 .. $nsessions;
my %kind;
for my $id (1 .. $nsessions * $njobs)
{
	my $sc = $scripts[ $id % $nsessions ];
	my $jsql = "INSERT INTO ch VALUES ($id) RETURNING $id * 7";
	if (rand() < 0.5)
	{
		$kind{$id} = 'v1';
		script_add($sc,
			"SELECT 'R:$id:' || r FROM pg_background_result(pg_background_launch(\$j\$$jsql\$j\$)) AS (r int);",
			'result', $id);
	}
	else
	{
		$kind{$id} = 'v2';
		script_add($sc,
			"SELECT pid, cookie FROM pg_background_launch_v2(\$j\$$jsql\$j\$) \\gset h${id}_",
			'launch', $id);
		script_add($sc, '\\if :ERROR');
		script_add($sc, '\\else');
		script_add($sc,
			"SELECT 'R:$id:' || r FROM pg_background_result_v2(:h${id}_pid, :h${id}_cookie) AS (r int);",
			'result', $id);
		script_add($sc, '\\endif');
	}
}
my %allowed = (
	launch => { '53000' => 1 },
	result => { '53000' => 1, '57P01' => 1, '08006' => 1 },
);
my $dir = $node->basedir;
my @procs;
for my $s (0 .. $nsessions - 1)
{
	my $f = "$dir/latch_s$s";
	script_write($scripts[$s], "$f.sql");
	my @cmd = (
		$node->installed_command('psql'), '-XAtq', '-d', 'postgres',
		'-h', $node->host, '-p', $node->port,
		'-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose', '-f', "$f.sql");
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>', "$f.out") or POSIX::_exit(126);
		open(STDERR, '>', "$f.err") or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	push @procs, { pid => $pid, file => $f, s => $s };
}
my $ctl = $node->background_psql('postgres');
$ctl->query_safe('SET client_min_messages = error');
my $terminated = 0;
my $deadline = time + $T;
my $running = scalar @procs;
while ($running > 0)
{
	for my $p (@procs)
	{
		next if defined $p->{status};
		if (waitpid($p->{pid}, WNOHANG) == $p->{pid})
		{
			$p->{status} = $?;
			$running--;
		}
	}
	if (time > $deadline)
	{
		kill 'TERM', map { $_->{pid} } grep { !defined $_->{status} } @procs;
		fail("(6) the sessions did not finish within $T s $tag");
		last;
	}
	# A random idle worker (the r-th by pid), if any.
	my $r = rand();
	$terminated += $ctl->query_safe(qq{
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (
  SELECT pid FROM pg_stat_activity
  WHERE backend_type = 'pg_background' AND state = 'idle'
  ORDER BY pid OFFSET (SELECT floor($r * count(*))::int FROM pg_stat_activity
                       WHERE backend_type = 'pg_background' AND state = 'idle')
  LIMIT 1) s});
	# Pacing of the chaos, not a wait for a worker.
	select(undef, undef, undef, rand(0.004));
}
waitpid($_->{pid}, 0) for grep { !defined $_->{status} } @procs;
$ctl->quit;
note("(6) terminated $terminated idle workers $tag");
cmp_ok($terminated, '>', 0, "(6) some idle workers were terminated $tag");

my (%results, %errs, %messages);
my $unexpected = 0;
for my $p (@procs)
{
	my ($s, $f) = ($p->{s}, $p->{file});
	is($p->{status} // -1, 0, "(6) session $s: psql exited normally $tag");
	my $r = script_read_log($scripts[$s], $f, \%allowed, "(6) session $s $tag");
	$unexpected += $r->{unexpected};
	%results = (%results, %{ $r->{results} });
	open my $eh, '<', "$f.err" or die "$f.err: $!";
	while (my $l = <$eh>)
	{
		next unless $l =~ /(?:ERROR|FATAL):  ([0-9A-Z]{5}): (.*)$/;
		my ($code, $m) = ($1, $2);
		$m =~ s/\d+/N/g;
		$messages{"$code: $m"}++;
	}
	close $eh;
	for my $id (keys %{ $r->{launch_err} })
	{
		push @{ $errs{$id} }, 'launch ' . $r->{launch_err}{$id};
	}
	for my $id (keys %{ $r->{result_err} })
	{
		push @{ $errs{$id} }, 'result ' . $r->{result_err}{$id};
	}
}
note("(6) $messages{$_} x $_") for sort keys %messages;
is($unexpected, 0, "(6) no unexpected error $tag");
ok( $node->poll_query_until(
		'postgres', 'SELECT active, queued FROM pg_background_admission()', '0|0'),
	"(6) nothing is left active or queued $tag");
my %rows;
for my $l (split /\n/, $node->safe_psql('postgres',
		'SELECT id, count(*) FROM ch GROUP BY id'))
{
	my ($id, $n) = split /\|/, $l;
	$rows{$id} = $n;
}
my (@bad, %tally);
for my $id (1 .. $nsessions * $njobs)
{
	my $res = $results{$id};
	my $e = $errs{$id} // [];
	my $rows = $rows{$id} // 0;
	$tally{ defined $res ? 'result' : @$e ? $e->[0] : 'nothing' }++;
	push @bad, "job $id: result and error (@$e)" if defined $res && @$e;
	push @bad, "job $id: neither result nor error (lost)"
	  if !defined $res && !@$e;
	push @bad, "job $id: two errors (@$e)" if @$e > 1;
	push @bad, "job $id: result $res, not " . ($id * 7)
	  if defined $res && $res ne $id * 7;
	push @bad, "job $id: its row is there $rows times" if $rows > 1;
	push @bad, "job $id: result, but no row" if defined $res && $rows != 1;
	push @bad, "job $id: its launch failed, but its row is there"
	  if grep({ /^launch/ } @$e) && $rows;
}
note("(6) outcomes $tag: "
	  . join(', ', map { "$_ $tally{$_}" } sort keys %tally));
is(scalar(@bad), 0, "(6) every job gave its result or a documented error $tag")
  or diag(join("\n", @bad[ 0 .. ($#bad < 19 ? $#bad : 19) ]));
ok( poll_until($node, q{
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND state <> 'idle'}, '0', $T),
	"(6) no pg_background worker is busy $tag");
# Workers beyond pool_size (the pool grew while launches waited) leave
# after a second without a job.
ok( poll_until($node, 'SELECT pool_idle <= 2 FROM pg_background_admission()',
		't', $T),
	"(6) the pool is back to at most pool_size parked workers $tag");
two_park("(6) after the chaos $tag", 601);

# ---------------------------------------------------------------------------
# 7. pool_idle_timeout lowered while parked.
# ---------------------------------------------------------------------------
my @parked = split /\n/, $node->safe_psql('postgres', q{
SELECT pid FROM pg_stat_activity
WHERE backend_type = 'pg_background' AND state = 'idle' ORDER BY pid});
is(scalar(@parked), 2, '(7) two workers are parked');
parked_long($_, '(7)') for @parked;
$node->safe_psql('postgres', q{
ALTER SYSTEM SET pg_background.pool_idle_timeout = 1;
SELECT pg_reload_conf();
});
ok( poll_until($node,
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_background'},
		'0', 30),
	'(7) the workers parked with the old timeout (an hour) leave within 30 s');
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET pg_background.pool_idle_timeout;
SELECT pg_reload_conf();
});
ok($node->poll_query_until('postgres', 'SHOW pg_background.pool_idle_timeout', '1h'),
	'(7) pool_idle_timeout is back to an hour');
$P = job_pid('(7) a job after the reset');
parked_long($P, '(7) its worker parks');

# ---------------------------------------------------------------------------
# 8. kill -9 of a parked worker.
# ---------------------------------------------------------------------------
my $offset = -s $node->logfile;
my $killed = $P;
ok(kill('KILL', $killed), "(8) SIGKILL sent to the parked worker $killed");
ok( eval {
		$node->wait_for_log(
			qr/all server processes terminated; reinitializing/s, $offset);
		1;
	},
	'(8) the server noticed the crash and reinitializes');
ok($node->poll_query_until('postgres', 'SELECT 1', '1'),
	'(8) the server accepts connections again');
$P = job_pid('(8) a job after the restart');
isnt($P, $killed, '(8) on a new worker');
parked_long($P, '(8) its worker parks');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($P)"),
	't', '(8) pg_terminate_backend of the parked worker');
gone($P, '(8) terminated while parked, after the restart');
two_park('(8) after the restart', 801);

# ---------------------------------------------------------------------------
# 9. The log.
# ---------------------------------------------------------------------------
$node->stop;
my $log = slurp_file($node->logfile);
my @signaled = grep { index($_, 'terminated by signal') >= 0 } split /\n/, $log;
is(scalar(@signaled), 1, '(9) one process was terminated by a signal')
  or diag(join("\n", @signaled));
like($signaled[0] // '', qr/\(PID $killed\) was terminated by signal 9/,
	'(9) the worker killed in (8)');
unlike($log, qr/TRAP:/, '(9) no TRAP');
unlike($log, qr/PANIC/, '(9) no PANIC');

note('runtime: ' . int(time - $start_time) . ' s');
done_testing();
