# test/perl/PgbgTest.pm: helpers shared by pg_background's TAP tests.
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use PgbgTest;
package PgbgTest;

use strict;
use warnings;
use Exporter 'import';
use Test::More ();
use Time::HiRes qw(usleep);

our @EXPORT = qw(run_query launcher_session set_guc dsm_count dsm_back_to);
# For the warm pool's tests (055, 056); import them by name.
our @EXPORT_OK = qw(pool_session pool_job wait_parked poll_until);

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

1;
