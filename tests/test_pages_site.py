"""What every page shares: the front page, the error pages, the skip link, the one-click language
buttons, and the admin's name."""

from __future__ import annotations

from django.test import RequestFactory

from organizations.models import User
from organizations.views import server_error
from tests.base import ApiTestCase


class FrontPageTestCase(ApiTestCase):
    def test_a_visitor_learns_what_this_is_before_any_login(self) -> None:
        r = self.client.get("/")
        self.assertEqual(r.status_code, 200)
        self.assertSays(r, "Your team's organizations, members and API keys in one place")
        self.assertContains(r, 'href="/accounts/signup/"')
        self.assertContains(r, 'href="/api/docs/"')

    def test_someone_logged_in_goes_to_their_organizations(self) -> None:
        self.client.force_login(self.rita)
        self.assertRedirects(self.client.get("/"), "/orgs/", fetch_redirect_response=False)


class EveryPageTestCase(ApiTestCase):
    def test_it_starts_with_a_skip_link_to_the_content(self) -> None:
        for url in ("/", "/accounts/login/"):
            with self.subTest(url):
                page = self.client.get(url).content.decode()
                body = page[page.index("<body") :]
                self.assertLess(body.index('class="skip-link" href="#main"'), body.index("<header"))
                self.assertIn('<main id="main" tabindex="-1">', page)


class ErrorPagesTestCase(ApiTestCase):
    def test_403_and_404_are_the_sites_pages_with_a_way_back(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.get(f"/orgs/{self.org.id}/settings/")
        self.assertEqual(r.status_code, 403)
        self.assertSays(r, "Error 403 Not allowed Admin role required Back to your organizations", status_code=403)
        self.assertContains(r, "/static/css/app.css", status_code=403)
        r = self.client.get("/no/such/page/")
        self.assertSays(r, "Error 404 Not found", status_code=404)
        self.client.logout()
        r = self.client.get("/no/such/page/")
        self.assertContains(r, 'id="error-login"', status_code=404)

    def test_500_is_a_page_of_the_site_that_needs_nothing_from_it(self) -> None:
        request = RequestFactory().get("/orgs/")
        response = server_error(request)
        self.assertEqual(response.status_code, 500)
        self.assertSays(response, "Error 500 Server error Something went wrong on our side.", status_code=500)
        self.assertContains(response, "/static/css/app.css", status_code=500)
        self.assertContains(response, 'class="card narrow error-page"', status_code=500)

    def test_the_api_keeps_its_json_errors(self) -> None:
        r = self.client.get("/organization/nothing-here")
        self.assertEqual((r.status_code, r["Content-Type"]), (404, "application/json"))


class AdminBrandTestCase(ApiTestCase):
    def test_the_admin_is_capgo_org(self) -> None:
        staff = User.objects.create_superuser("staff@example.org", "pw-staff-123")
        self.client.force_login(staff)
        r = self.client.get("/admin/")
        self.assertContains(r, '<div id="site-name"><a href="/admin/">capgo-org</a></div>', html=True)
        self.assertContains(r, "<title>Administration | capgo-org</title>", html=True)
        self.assertNotContains(r, "Django")
        self.assertContains(r, "/static/css/admin.css")
