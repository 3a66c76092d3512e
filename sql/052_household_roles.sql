-- 052_household_roles: roles a source asserts for a household member (issue 21).
--
-- A source record asserts its person's role in the household through a mapped attribute
-- (households.role_attribute, default attributes.household_role); the golden record's
-- value (survivorship: the most recent) is the member's role: a member asserting head is
-- preferred as the head, the others keep the role asserted (spouse, partner, child,
-- parent, sibling, relative, lodger), and a member asserting none is "member" unless it
-- is the head. Written only by mdm/household.c.
ALTER TABLE household_member DROP CONSTRAINT household_member_role_check;
ALTER TABLE household_member ADD CONSTRAINT household_member_role_check
    CHECK (role IN ('head', 'member', 'spouse', 'partner', 'child', 'parent', 'sibling',
                    'relative', 'lodger'));
COMMENT ON TABLE household_member IS 'Membership of active golden records in active households, with the role: head (a member whose golden record asserts head, else one asserting no role, then the oldest by birth date, then the oldest golden id), the role the golden record asserts (households.role_attribute: spouse, partner, child, parent, sibling, relative, lodger), else member. A golden record belongs to at most one household.';
