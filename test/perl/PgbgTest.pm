# test/perl/PgbgTest.pm: helpers shared by pg_background's TAP tests.
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use PgbgTest;
package PgbgTest;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(run_query launcher_session);

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

1;
