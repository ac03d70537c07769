# test/perl/PgbgTest.pm: helpers shared by pg_background's TAP tests.
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use PgbgTest;
package PgbgTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster ();
use Test::More ();
use Time::HiRes qw(usleep);

our @EXPORT = qw(run_query launcher_session set_guc dsm_count dsm_back_to);
# For the warm pool's tests (052, 055, 056, 072, 076, 077), the durable
# tests and the chaos tests (065, 075); import them by name.
our @EXPORT_OK = qw(pool_node pool_session pool_job wait_parked poll_until
  psql_as enqueue_job parked_pid_of sqlstate_of wait_job job_fields
  waits_for_advisory_lock
  script_new script_add script_add_reset script_add_tlaunch script_write
  script_read_log);

# Run a query in a background psql session; return its stdout and whatever
# it wrote to stderr (which is then cleared for the next query).
sub run_query
{
	my ($session, $sql) = @_;
	my ($out) = $session->query($sql);
	my $err = $session->{stderr};
	$session->{stderr} = '';
	return ($out, $err);
}

# A background psql session on the node's postgres database that keeps
# going after errors and reports SQLSTATEs (VERBOSITY verbose).
sub launcher_session
{
	my ($node) = @_;
	my $s = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	$s->set_query_timer_restart;
	return $s;
}

# ALTER SYSTEM SET $name = $value (or RESET, if $value is undef) on $node,
# reload, and wait until a new session shows $shown (by then the postmaster
# has signaled every process, so their next command sees it too).
sub set_guc
{
	my ($node, $name, $value, $shown) = @_;
	$node->safe_psql('postgres',
		defined $value
		? "ALTER SYSTEM SET $name = $value"
		: "ALTER SYSTEM RESET $name");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	Test::More::ok($node->poll_query_until('postgres', "SHOW $name", $shown),
		"$name is now $shown");
	return;
}

# The dynamic shared memory segments of $node, whose
# dynamic_shared_memory_type must be mmap: the files of its pg_dynshmem.
sub dsm_count
{
	my ($node) = @_;
	opendir(my $dh, $node->data_dir . '/pg_dynshmem') or die "opendir: $!";
	my $n = grep { /^mmap\./ } readdir($dh);
	closedir $dh;
	return $n;
}

# Wait (with a deadline) until $node's segment count is back to $baseline,
# and say so as a test named "$what: ...".
sub dsm_back_to
{
	my ($node, $baseline, $what) = @_;
	my $deadline = time() + $PostgreSQL::Test::Utils::timeout_default;
	my $n;
	while (($n = dsm_count($node)) != $baseline && time() < $deadline)
	{
		select(undef, undef, undef, 0.05);
	}
	Test::More::is($n, $baseline,
		"$what: DSM segments back to the baseline ($baseline)");
	return;
}

# A started node $name with the warm pool: shared_preload_libraries =
# 'pg_background', pg_background.pool_size = $opt{pool_size} (default 2),
# pool_idle_timeout = 3600 (no parked worker leaves on its own while a test
# runs), max_worker_processes = $opt{max_worker_processes} (default 8), no
# parallel workers, log_min_messages = log, then the lines of the list
# $opt{conf}.  $opt{init} holds the arguments of init (e.g.
# { allows_streaming => 1 }).  The extension is created in postgres, and
# the roles of the list $opt{roles} (default regress_alice and regress_bob),
# created with LOGIN, are granted its privileges; the same in each database
# of the list $opt{dbs}, created (from template1) afterwards.
sub pool_node
{
	my ($name, %opt) = @_;
	my @roles = @{ $opt{roles} // [ 'regress_alice', 'regress_bob' ] };
	my $pool_size = $opt{pool_size} // 2;
	my $max_workers = $opt{max_worker_processes} // 8;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%{ $opt{init} // {} });
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_background'
pg_background.pool_size = $pool_size
pg_background.pool_idle_timeout = 3600
max_worker_processes = $max_workers
max_parallel_workers = 0
max_parallel_workers_per_gather = 0
log_min_messages = log
} . join('', map { "$_\n" } @{ $opt{conf} // [] }));
	$node->start;

	my $grant = @roles
	  ? 'SELECT grant_pg_background_privileges(r, false) FROM unnest(ARRAY['
	  . join(', ', map { "'$_'" } @roles) . ']) r;'
	  : '';
	$node->safe_psql('postgres', "CREATE EXTENSION pg_background;\n"
		  . join('', map { "CREATE ROLE $_ LOGIN;\n" } @roles) . $grant);
	for my $db (@{ $opt{dbs} // [] })
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		$node->safe_psql($db, "CREATE EXTENSION pg_background;\n$grant");
	}
	return $node;
}

# A background psql session as $user (default: the bootstrap superuser) on
# $db (default: postgres) that goes on after errors and reports SQLSTATEs.
sub pool_session
{
	my ($node, $user, $db) = @_;
	my $s = $node->background_psql(
		$db // 'postgres',
		on_error_stop => 0,
		extra_params =>
		  [ (defined $user ? ('-U', $user) : ()), '-v', 'VERBOSITY=verbose' ]);
	$s->set_query_timer_restart;
	return $s;
}

# Run $sql as a job (v1 launch, then its result) from session $s, with the
# column definition list $coldef; returns (stdout, stderr).
sub pool_job
{
	my ($s, $sql, $coldef) = @_;
	(my $lit = $sql) =~ s/'/''/g;
	return run_query($s,
		"SELECT * FROM pg_background_result(pg_background_launch('$lit')) AS ($coldef)");
}

# Wait until at least $n workers are parked on $node (the pool counts them).
sub wait_parked
{
	my ($node, $what, $n) = @_;
	Test::More::ok(
		$node->poll_query_until(
			'postgres', "SELECT pool_idle >= $n FROM pg_background_admission()"),
		"$what: $n worker(s) parked");
}

# Poll $sql on $node (a new session each time) until it returns $expected
# or $seconds have passed; true if it did.
sub poll_until
{
	my ($node, $sql, $expected, $seconds) = @_;
	my $deadline = time + $seconds;
	while (1)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq $expected;
		return 0 if time > $deadline;
		usleep(100_000);
	}
}

# Wait (60 s at most) until backend $pid of $node waits for an advisory
# lock; true if it does.
sub waits_for_advisory_lock
{
	my ($node, $pid) = @_;
	return poll_until($node, qq{SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
		AND NOT granted AND pid = $pid}, '1', 60);
}

# Run $sql on $node in $db (default: postgres) as $user (default: the
# bootstrap superuser); returns its stdout (dies on an error).
sub psql_as
{
	my ($node, $sql, $user, $db) = @_;
	return $node->safe_psql($db // 'postgres', $sql,
		extra_params => [ defined $user ? ('-U', $user) : () ]);
}

# Enqueue $sql (dollar-quoted as $q$) as a durable job of $user in $db
# (defaults as for psql_as) with label $label, max_attempts 1, run_at now;
# returns its id.
sub enqueue_job
{
	my ($node, $sql, $label, $user, $db) = @_;
	return psql_as($node,
		"SELECT pg_background_enqueue(\$q\$$sql\$q\$, NULL, 1, '1 s', NULL, '$label')",
		$user, $db);
}

# The pid of the only idle pg_background backend (a parked worker) of $role
# on $node, in database $db if given (else in any), once there is one: a
# test says so.
sub parked_pid_of
{
	my ($node, $role, $db) = @_;
	my $sql = qq{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_background'
		AND usename = '$role'}
	  . (defined $db ? qq{ AND datname = '$db'} : '')
	  . q{ AND state = 'idle'};
	Test::More::ok(poll_until($node, "SELECT count(*) FROM ($sql) p", '1', 60),
		defined $db
		? "a worker of $role in $db is parked"
		: "a worker of $role is idle");
	return $node->safe_psql('postgres', $sql);
}

# The SQLSTATE of the first error that $sql raises on $node in $db
# (default: postgres) as $user (default: the bootstrap superuser); '' if
# none.
sub sqlstate_of
{
	my ($node, $sql, $user, $db) = @_;
	my ($ret, $out, $err) = $node->psql(
		$db // 'postgres', $sql,
		extra_params =>
		  [ (defined $user ? ('-U', $user) : ()), '-v', 'VERBOSITY=verbose' ]);
	return $err =~ /ERROR:  ([0-9A-Z]{5}):/ ? $1 : '';
}

# Wait (server side, with pg_background_wait_job and the default timeout)
# until the durable job $id of $node has finished, as $user (default: the
# bootstrap superuser) in $db (default: postgres); returns 't' if it did.
sub wait_job
{
	my ($node, $id, $user, $db) = @_;
	my $ms = $PostgreSQL::Test::Utils::timeout_default * 1000;
	return psql_as($node, "SELECT pg_background_wait_job($id, $ms)",
		$user, $db);
}

# The columns $cols of pg_background_job($id) on $node in $db (default:
# postgres), as the bootstrap superuser.
sub job_fields
{
	my ($node, $id, $cols, $db) = @_;
	return psql_as($node, "SELECT $cols FROM pg_background_job($id)",
		undef, $db);
}

# A chaos test's psql script of one session: its lines, and what some of
# them do (line number -> [ what, job id ]), to tell its errors apart.
sub script_new
{
	return { lines => [], what => {} };
}

# Append $line; $what (and the job $id) name it for script_read_log.
sub script_add
{
	my ($sc, $line, $what, $id) = @_;
	push @{ $sc->{lines} }, $line;
	$sc->{what}{ scalar @{ $sc->{lines} } } = [ $what, $id ] if defined $what;
	return;
}

# RESET statement_timeout, which a (short) timeout may itself interrupt on a
# busy machine: then again, up to ten times.
sub script_add_reset
{
	my ($sc) = @_;
	script_add($sc, 'RESET statement_timeout;', 'reset');
	for (2 .. 10)
	{
		script_add($sc, '\\if :ERROR');
		script_add($sc, 'RESET statement_timeout;', 'reset');
	}
	script_add($sc, '\\endif') for (2 .. 10);
	return;
}

# A timeout launch ('tlaunch') of job $id: launch (v2) $sql with
# statement_timeout = $ms ms.  If the launch failed, look the job up in
# pg_background_jobs (WHERE sql_preview $preview, e.g. "= '...'" or
# "LIKE '...%'") and detach it ("D:id:false"); else detach it by its handle
# ("T:id:false").  Either way RESET statement_timeout first.
sub script_add_tlaunch
{
	my ($sc, $id, $sql, $ms, $preview) = @_;
	script_add($sc, "SET statement_timeout = '${ms}ms';");
	script_add($sc,
		"SELECT pid, cookie FROM pg_background_launch_v2(\$j\$$sql\$j\$) \\gset h${id}_",
		'tlaunch', $id);
	script_add($sc, '\\if :ERROR');
	script_add_reset($sc);
	script_add($sc,
		"SELECT 'D:$id:' || (pg_background_detach_v2(pid, cookie) IS NULL) "
		  . "FROM pg_background_jobs WHERE sql_preview $preview;",
		'lookup', $id);
	script_add($sc, '\\else');
	script_add_reset($sc);
	script_add($sc,
		"SELECT 'T:$id:' || (pg_background_detach_v2(:h${id}_pid, :h${id}_cookie) IS NULL);",
		'detach', $id);
	script_add($sc, '\\endif');
	return;
}

# Write the script to $file.
sub script_write
{
	my ($sc, $file) = @_;
	open my $fh, '>', $file or die "$file: $!";
	print $fh "$_\n" for @{ $sc->{lines} };
	close $fh;
	return;
}

# Read what psql (-v VERBOSITY=verbose) wrote running the script: "$f.err"
# and "$f.out".  An error is expected if $allowed->{what}{sqlstate} says
# so; any other, and any FATAL, PANIC or lost connection, is reported with
# diag (prefixed by $label) and counted as unexpected.  Lines "R:id:value"
# of the output are results; "T:id:false" says that a timeout launch
# ('tlaunch') returned and "D:id:false" that its job was found and detached
# afterwards.  Returns { unexpected, errors (a list of [ what, sqlstate ]),
# launch_err, result_err (job id -> sqlstate), results (job id -> value),
# tlaunch (job id -> returned, returned_late or failed) }.
sub script_read_log
{
	my ($sc, $f, $allowed, $label) = @_;
	my %r = (unexpected => 0, errors => [], launch_err => {},
		result_err => {}, results => {}, tlaunch => {});
	my (%err_line, %out);

	open my $eh, '<', "$f.err" or die "$f.err: $!";
	while (my $l = <$eh>)
	{
		chomp $l;
		if ($l =~ /^psql:[^:]*:(\d+): (ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): (.*)$/)
		{
			my ($n, $level, $state, $msg) = ($1, $2, $3, $4);
			my $w = $sc->{what}{$n};
			my $what = $w ? $w->[0] : 'other';
			push @{ $r{errors} }, [ $what, $state ];
			$err_line{$n} = $state;
			$r{launch_err}{ $w->[1] } = $state if $what eq 'launch';
			$r{result_err}{ $w->[1] } = $state if $what eq 'result';
			if ($level ne 'ERROR' || !$allowed->{$what} || !$allowed->{$what}{$state})
			{
				$r{unexpected}++;
				Test::More::diag("$label line $n: unexpected $level $state $msg: "
					  . $sc->{lines}[ $n - 1 ]);
			}
		}
		elsif ($l =~ /^psql:.*(?:FATAL|PANIC|connection|server closed)/i)
		{
			$r{unexpected}++;
			Test::More::diag("$label: $l");
		}
	}
	close $eh;

	open my $oh, '<', "$f.out" or die "$f.out: $!";
	while (my $l = <$oh>)
	{
		chomp $l;
		if ($l =~ /^R:(\d+):(.*)$/) { $r{results}{$1} = $2; }
		elsif ($l =~ /^([TD]):(\d+):false$/) { $out{$1}{$2} = 1; }
	}
	close $oh;

	for my $n (sort { $a <=> $b } keys %{ $sc->{what} })
	{
		my ($what, $id) = @{ $sc->{what}{$n} };
		next unless $what eq 'tlaunch';
		if ($out{T}{$id})
		{
			$r{tlaunch}{$id} = 'returned';
			$r{unexpected}++,
			  Test::More::diag("$label: timeout launch $id returned but its statement failed?")
			  if defined $err_line{$n};
		}
		elsif ($out{D}{$id})
		{
			$r{tlaunch}{$id} = 'returned_late';
		}
		else
		{
			$r{tlaunch}{$id} = 'failed';
			$r{unexpected}++,
			  Test::More::diag("$label: timeout launch $id: no output and no error")
			  unless defined $err_line{$n};
		}
	}
	return \%r;
}

1;
