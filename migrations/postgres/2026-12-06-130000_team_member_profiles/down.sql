ALTER TABLE team_memberships DROP COLUMN profile_image_url;
ALTER TABLE team_memberships DROP COLUMN display_name;
