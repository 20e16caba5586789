-- A member's profile in a team (issue 17: upstream's "Team user name"): a display name and a
-- picture of the member's own choosing for that team, NULL until set; readers fall back to the
-- user's own.
ALTER TABLE team_memberships ADD COLUMN display_name TEXT;
ALTER TABLE team_memberships ADD COLUMN profile_image_url TEXT;
