#define CAF_SUITE journal_outcome

#include "store/journal_outcome.hpp"

#include "caf/test/unit_test.hpp"

using namespace hm;

CAF_TEST(every outcome reads back from the journal text it is written as) {
  const journal_outcome all[] = {
    journal_outcome::answered(),        journal_outcome::ignored("not-a-message"),
    journal_outcome::failed("http_502"), journal_outcome::stopped(),
    journal_outcome::interrupted(),     journal_outcome::command("status"),
    journal_outcome::reaction(),        journal_outcome::joined(),
    journal_outcome::declined(),        journal_outcome::verification()};
  for (auto& o : all) {
    auto back = parse_journal_outcome(to_string(o));
    CAF_REQUIRE(back);
    CAF_CHECK(*back == o);
  }
}

CAF_TEST(the text is the form earlier versions wrote) {
  CAF_CHECK_EQUAL(to_string(journal_outcome::answered()), "answered");
  CAF_CHECK_EQUAL(to_string(journal_outcome::ignored("plaintext")), "ignored:plaintext");
  CAF_CHECK_EQUAL(to_string(journal_outcome::failed("join")), "failed:join");
  CAF_CHECK_EQUAL(to_string(journal_outcome::command("new")), "command:new");
  CAF_CHECK(parse_journal_outcome("failed:http_429") == journal_outcome::failed("http_429"));
}

CAF_TEST(a text no version wrote reads as nothing) {
  CAF_CHECK(!parse_journal_outcome(""));
  CAF_CHECK(!parse_journal_outcome("answer"));
  CAF_CHECK(!parse_journal_outcome("exploded:yes"));
}

CAF_TEST(only invites count as the outcome of an invite) {
  CAF_CHECK(journal_outcome::joined().about_an_invite());
  CAF_CHECK(journal_outcome::declined().about_an_invite());
  CAF_CHECK(journal_outcome::failed("join").about_an_invite());
  CAF_CHECK(journal_outcome::failed("decline").about_an_invite());
  CAF_CHECK(!journal_outcome::failed("http_500").about_an_invite());
  CAF_CHECK(!journal_outcome::answered().about_an_invite());
}
