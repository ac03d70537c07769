# test/perl/PgbgTest.pm: helpers shared by pg_background's TAP tests.
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use PgbgTest;
package PgbgTest;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(run_query launcher_session set_guc);

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

1;
